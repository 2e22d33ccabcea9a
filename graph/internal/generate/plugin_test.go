package main

import (
	"errors"
	"go/types"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
	"github.com/99designs/gqlgen/plugin"
	"github.com/vektah/gqlparser/v2/ast"
)

// model builds the part of codegen.Data that sequentialLists reads: objects
// with fields, and one list type per element type named in lists.
type model struct {
	data *codegen.Data
	defs map[string]*ast.Definition
}

func newModel() *model {
	return &model{
		data: &codegen.Data{Schema: &ast.Schema{PossibleTypes: map[string][]*ast.Definition{}},
			ReferencedTypes: map[string]*config.TypeReference{}},
		defs: map[string]*ast.Definition{
			"String": {Name: "String", Kind: ast.Scalar},
			"Color":  {Name: "Color", Kind: ast.Enum},
		},
	}
}

func (m *model) def(name string, kind ast.DefinitionKind) *ast.Definition {
	if d, ok := m.defs[name]; ok {
		return d
	}
	d := &ast.Definition{Name: name, Kind: kind}
	m.defs[name] = d
	return d
}

// object adds an object; each field is "name:Type" and is plain unless
// changed by edit.
func (m *model) object(name string, fields map[string]string, edit func(*codegen.Field)) {
	obj := &codegen.Object{Definition: m.def(name, ast.Object)}
	for _, fname := range slices.Sorted(maps.Keys(fields)) {
		f := &codegen.Field{
			FieldDefinition: &ast.FieldDefinition{Name: fname},
			Object:          obj,
			TypeReference:   &config.TypeReference{Definition: m.def(fields[fname], ast.Object)},
		}
		if edit != nil {
			edit(f)
		}
		obj.Fields = append(obj.Fields, f)
	}
	m.data.Objects = append(m.data.Objects, obj)
}

func (m *model) list(elem string) {
	d := m.def(elem, ast.Object)
	ref := &config.TypeReference{
		Definition: d,
		GQL:        ast.ListType(ast.NamedType(elem, nil), nil),
		GO:         types.NewSlice(types.Typ[types.Int]),
	}
	m.data.ReferencedTypes[ref.UniquenessKey()] = ref
}

func (m *model) sequential() []string {
	return slices.Sorted(maps.Values(sequentialLists(m.data)))
}

func resolver(name string) func(*codegen.Field) {
	return func(f *codegen.Field) {
		if f.Name == name {
			f.IsResolver = true
		}
	}
}

func TestSequentialListsAreThoseThatNeverWait(t *testing.T) {
	cases := []struct {
		name  string
		build func(m *model)
		want  []string
	}{
		{"struct fields only", func(m *model) {
			m.object("User", map[string]string{"name": "String", "color": "Color"}, nil)
		}, []string{"Color", "User"}},
		{"a resolver", func(m *model) {
			m.object("User", map[string]string{"name": "String", "posts": "String"}, resolver("posts"))
		}, []string{"Color"}},
		{"a method taking a context", func(m *model) {
			m.object("User", map[string]string{"name": "String"}, func(f *codegen.Field) { f.MethodHasContext = true })
		}, []string{"Color"}},
		{"a batch resolver", func(m *model) {
			m.object("User", map[string]string{"name": "String"}, func(f *codegen.Field) { f.Batch = true })
		}, []string{"Color"}},
		{"a directive run at run time", func(m *model) {
			m.object("User", map[string]string{"name": "String"}, func(f *codegen.Field) {
				f.Directives = []*codegen.Directive{{Name: "auth", DirectiveDefinition: &ast.DirectiveDefinition{
					Locations: []ast.DirectiveLocation{ast.LocationFieldDefinition}}}}
			})
		}, []string{"Color"}},
		{"an object directive run at run time", func(m *model) {
			m.object("User", map[string]string{"name": "String"}, nil)
			m.data.Objects[0].Directives = []*codegen.Directive{{Name: "auth"}}
		}, []string{"Color"}},
		{"object directives gqlgen skips at run time (@key)", func(m *model) {
			m.object("User", map[string]string{"name": "String"}, nil)
			m.data.Objects[0].Directives = []*codegen.Directive{
				{Name: "key", DirectiveConfig: config.DirectiveConfig{SkipRuntime: true}},
				{Name: "entityResolver", DirectiveConfig: config.DirectiveConfig{SkipRuntime: true}},
			}
		}, []string{"Color", "User"}},
		{"a plain field reaching an object with a resolver", func(m *model) {
			m.object("User", map[string]string{"name": "String", "team": "Team"}, nil)
			m.object("Team", map[string]string{"members": "String"}, resolver("members"))
		}, []string{"Color"}},
		{"a type reaching itself", func(m *model) {
			m.object("User", map[string]string{"name": "String", "friend": "User"}, nil)
		}, []string{"Color", "User"}},
		// Author's list is decided first, and Team while Author is still
		// being decided.
		{"a type in a cycle with one that waits", func(m *model) {
			m.object("Author", map[string]string{"a_team": "Team", "z_pal": "Pal"}, nil)
			m.object("Team", map[string]string{"owner": "Author"}, nil)
			m.object("Pal", map[string]string{"posts": "String"}, resolver("posts"))
			m.list("Author")
			m.list("Team")
		}, []string{"Color"}},
		{"an interface with one waiting implementation", func(m *model) {
			node := m.def("Node", ast.Interface)
			m.object("User", map[string]string{"name": "String"}, nil)
			m.object("Team", map[string]string{"members": "String"}, resolver("members"))
			m.data.Schema.PossibleTypes["Node"] = []*ast.Definition{m.defs["User"], m.defs["Team"]}
			m.list(node.Name)
		}, []string{"Color", "User"}},
		{"an interface whose implementations never wait", func(m *model) {
			node := m.def("Node", ast.Interface)
			m.object("User", map[string]string{"name": "String"}, nil)
			m.data.Schema.PossibleTypes["Node"] = []*ast.Definition{m.defs["User"]}
			m.list(node.Name)
		}, []string{"Color", "Node", "User"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel()
			tc.build(m)
			m.list("User")
			m.list("Color")
			m.list("String") // scalars: gqlgen marshals their lists in a plain loop
			if got := m.sequential(); !slices.Equal(got, tc.want) {
				t.Errorf("sequential lists of %v, want %v", got, tc.want)
			}
		})
	}
}

var errCaptured = errors.New("model captured")

// capture is a plugin that keeps gqlgen's model and stops api.Generate
// before it writes anything.
type capture struct{ data *codegen.Data }

func (*capture) Name() string { return "capture" }

func (c *capture) GenerateCode(data *codegen.Data) error {
	c.data = data
	return errCaptured
}

// onlyFederation drops gqlgen's plugins but federation's, which adds the
// _entities and _service fields to the schema (and writes only
// cfg.Federation.Filename).
func onlyFederation(_ *config.Config, plugins *[]plugin.Plugin) {
	*plugins = slices.DeleteFunc(*plugins, func(p plugin.Plugin) bool { return p.Name() != "federation" })
}

// projectModel is gqlgen's model of headline's schema and gqlgen.yml, as
// changed by adjust, built without writing a file.
func projectModel(t *testing.T, adjust func(*config.Config)) *codegen.Data {
	t.Helper()
	t.Chdir(filepath.Join("..", "..", ".."))
	cfg, err := config.LoadConfig("gqlgen.yml")
	if err != nil {
		t.Fatal(err)
	}
	// api.Generate starts by deleting these files.
	tmp := t.TempDir()
	cfg.Exec.Filename = filepath.Join(tmp, "generated.go")
	cfg.Model.Filename = filepath.Join(tmp, "models_gen.go")
	cfg.Federation.Filename = filepath.Join(tmp, "federation.go")
	// Without modelgen, bind its models to those it wrote.
	cfg.Models.Add("UpdateMeInput", "github.com/headline/headline/graph.UpdateMeInput")
	cfg.Models.Add("UserByIDsInput", "github.com/headline/headline/graph.UserByIDsInput")
	cfg.Models.Add("FieldSet", "github.com/99designs/gqlgen/graphql.String") // modelgen's default for a scalar
	adjust(cfg)
	c := &capture{}
	if err := api.Generate(cfg, onlyFederation, api.AddPlugin(c)); !errors.Is(err, errCaptured) {
		t.Fatalf("api.Generate: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "generated.go")); err == nil {
		t.Fatal("api.Generate wrote generated.go")
	}
	return c.data
}

func TestSequentialListsOfHeadlinesSchema(t *testing.T) {
	const userList = "marshalNUser2ᚕᚖgithubᚗcomᚋheadlineᚋheadlineᚐUser"
	t.Run("users(ids:) is sequential: User is struct fields", func(t *testing.T) {
		data := projectModel(t, func(*config.Config) {})
		lists := sequentialLists(data)
		if lists[userList] != "User" {
			t.Errorf("%s is not sequential: %v", userList, lists)
		}
		for _, elem := range []string{"__Type", "__Field", "__InputValue", "__EnumValue", "__Directive", "__DirectiveLocation"} {
			if !slices.Contains(slices.Collect(maps.Values(lists)), elem) {
				t.Errorf("no sequential list of %s: %v", elem, lists)
			}
		}
		const entityList = "marshalN_Entity2ᚕgithubᚗcomᚋ99designsᚋgqlgenᚋpluginᚋfederationᚋfedruntimeᚐEntity"
		if lists[entityList] != "_Entity" {
			t.Errorf("%s (_entities) is not sequential: %v", entityList, lists)
		}
		if objects := plainObjects(data); !objects["_User"] || objects["_Query"] || objects["_Mutation"] {
			t.Errorf("plain objects %v: want User's, not the roots'", objects)
		}
	})
	t.Run("users(ids:) stays concurrent once User has a resolver", func(t *testing.T) {
		data := projectModel(t, func(cfg *config.Config) {
			user := cfg.Models["User"]
			user.Fields = map[string]config.TypeMapField{"name": {Resolver: true}}
			cfg.Models["User"] = user
		})
		if elem, ok := sequentialLists(data)[userList]; ok {
			t.Errorf("%s (%s) is sequential, but User.name is a resolver", userList, elem)
		}
		if objects := plainObjects(data); objects["_User"] || !objects["___Type"] {
			t.Errorf("plain objects %v: want __Type's, not User's, whose name is a resolver", objects)
		}
	})
}
