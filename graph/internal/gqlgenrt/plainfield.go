package gqlgenrt

// DirectPlainFields reports whether resolvers (the generated code's
// ec.Resolvers) let plain fields be written directly. The rewrite of
// graph/generated.go puts a call of it at the top of the function of each
// field that gqlgen resolves by reading a struct field (no resolver, no
// method, no arguments, no directive, a scalar or enum type), such as
// User.name:
//
//	if gqlgenrt.DirectPlainFields(ec.Resolvers) {
//		return ec.marshalNString2string(ctx, field.Selections, obj.Name)
//	}
//
// The direct way writes what graphql.ResolveField would: reading a struct
// field returns no error and cannot panic, and a nil pointer is marshalled
// as null either way. What it leaves out is the field's FieldContext and a
// pass through the field interceptors, about 6 allocations a field; the
// root resolver answers DirectPlainFields true only when no interceptor
// wants plain fields (see graph.NewHandler).
func DirectPlainFields(resolvers any) bool {
	d, ok := resolvers.(interface{ DirectPlainFields() bool })
	return ok && d.DirectPlainFields()
}
