package gqlgenrt

import (
	"context"
	"errors"
	"sync"

	"github.com/99designs/gqlgen/graphql"
)

// NewScalarFieldContext is graphql.NewScalarFieldContext, which every field
// of a scalar or enum type calls each time it is resolved, without its
// allocation of a Child closure per call: the Child of a type's fields is
// made once and shared. It answers as gqlgen's does, an error naming the
// type.
func NewScalarFieldContext(
	objectName string,
	field graphql.CollectedField,
	isMethod, isResolver bool,
	typeName string,
) (*graphql.FieldContext, error) {
	return &graphql.FieldContext{
		Object:     objectName,
		Field:      field,
		IsMethod:   isMethod,
		IsResolver: isResolver,
		Child:      noChildren(typeName),
	}, nil
}

type childFunc = func(context.Context, graphql.CollectedField) (*graphql.FieldContext, error)

// childless holds the Child of each scalar type's fields, by type name.
var childless sync.Map

func noChildren(typeName string) childFunc {
	if f, ok := childless.Load(typeName); ok {
		return f.(childFunc)
	}
	f, _ := childless.LoadOrStore(typeName, childFunc(func(context.Context, graphql.CollectedField) (*graphql.FieldContext, error) {
		return nil, errors.New("field of type " + typeName + " does not have child fields")
	}))
	return f.(childFunc)
}
