package migrations

import (
	"context"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// userBasicMySQL is the Toutiao backend's table exactly as its init.sql has
// it, so that tests and benchmarks run on the real schema.
const userBasicMySQL = "CREATE TABLE `user_basic` (\n" +
	"  `user_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT COMMENT '用户ID',\n" +
	"  `account` varchar(20) NULL COMMENT '账号',\n" +
	"  `email` varchar(20) NULL COMMENT '邮箱',\n" +
	"  `status` tinyint(1) NOT NULL DEFAULT '1' COMMENT '状态，是否可用，0-不可用，1-可用',\n" +
	"  `mobile` char(11) NOT NULL COMMENT '手机号',\n" +
	"  `password` varchar(93) NULL COMMENT '密码',\n" +
	"  `user_name` varchar(32) NOT NULL COMMENT '昵称',\n" +
	"  `profile_photo` varchar(128) NULL COMMENT '头像',\n" +
	"  `last_login` datetime NULL COMMENT '最后登录时间',\n" +
	"  `is_media` tinyint(1) NOT NULL DEFAULT '0' COMMENT '是否是自媒体，0-不是，1-是',\n" +
	"  `is_verified` tinyint(1) NOT NULL DEFAULT '0' COMMENT '是否实名认证，0-不是，1-是',\n" +
	"  `introduction` varchar(50) NULL COMMENT '简介',\n" +
	"  `certificate` varchar(30) NULL COMMENT '认证',\n" +
	"  `article_count` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '发文章数',\n" +
	"  `following_count` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '关注的人数',\n" +
	"  `fans_count` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '被关注的人数',\n" +
	"  `like_count` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '累计点赞人数',\n" +
	"  `read_count` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '累计阅读人数',\n" +
	"  `create_time` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT '创建时间',\n" +
	"  `update_time` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT '更新时间',\n" +
	"  PRIMARY KEY (`user_id`),\n" +
	"  UNIQUE KEY `mobile` (`mobile`),\n" +
	"  UNIQUE KEY `user_name` (`user_name`)\n" +
	") ENGINE=InnoDB AUTO_INCREMENT=1 DEFAULT CHARSET=utf8mb4 COMMENT='用户基本信息表'"

// userBasicSQLite is the same table for the embedded engine, which has no
// unsigned types, column comments or ON UPDATE.
const userBasicSQLite = `CREATE TABLE user_basic (
  user_id INTEGER PRIMARY KEY AUTOINCREMENT,
  account VARCHAR(20) NULL,
  email VARCHAR(20) NULL,
  status TINYINT NOT NULL DEFAULT 1,
  mobile CHAR(11) NOT NULL UNIQUE,
  password VARCHAR(93) NULL,
  user_name VARCHAR(32) NOT NULL UNIQUE,
  profile_photo VARCHAR(128) NULL,
  last_login DATETIME NULL,
  is_media TINYINT NOT NULL DEFAULT 0,
  is_verified TINYINT NOT NULL DEFAULT 0,
  introduction VARCHAR(50) NULL,
  certificate VARCHAR(30) NULL,
  article_count INTEGER NOT NULL DEFAULT 0,
  following_count INTEGER NOT NULL DEFAULT 0,
  fans_count INTEGER NOT NULL DEFAULT 0,
  like_count INTEGER NOT NULL DEFAULT 0,
  read_count INTEGER NOT NULL DEFAULT 0,
  create_time DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  update_time DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
)`

func init() {
	Migrations.MustRegister(func(ctx context.Context, db *bun.DB) error {
		// On a database the Toutiao backend already uses, the table is
		// theirs: left exactly as it is, and not recorded as headline's.
		ddl := userBasicMySQL
		if db.Dialect().Name() == dialect.SQLite {
			ddl = userBasicSQLite
		}
		_, err := createTable(ctx, db, "user_basic", ddl)
		return err
	}, func(ctx context.Context, db *bun.DB) error {
		// Only if headline created it: then it holds what was written
		// since, and goes with it. The Toutiao backend's table is kept.
		_, err := dropTable(ctx, db, "user_basic")
		return err
	})
}
