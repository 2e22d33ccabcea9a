package main

import (
	"bytes"
	"go/ast"
	"go/token"
	"slices"
)

// addImport adds runtimePkg to the parenthesised import block gqlgen
// writes; format.Source then sorts it into its group.
func (r *rewriter) addImport(file *ast.File) {
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.IMPORT || !gen.Rparen.IsValid() {
			continue
		}
		for _, spec := range gen.Specs {
			if s := spec.(*ast.ImportSpec); s.Path.Value == `"`+runtimePkg+`"` {
				r.problem("already imports %s: not gqlgen's output", runtimePkg)
				return
			}
		}
		at := r.offset(gen.Rparen)
		r.edits = append(r.edits, edit{at, at, "\t\"" + runtimePkg + "\"\n"})
		return
	}
	r.problem("no parenthesised import block to add %s to", runtimePkg)
}

// apply makes edits, which must not overlap, on a copy of src.
func apply(src []byte, edits []edit) []byte {
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	var out bytes.Buffer
	last := 0
	for _, e := range edits {
		out.Write(src[last:e.start])
		out.WriteString(e.text)
		last = e.end
	}
	out.Write(src[last:])
	return out.Bytes()
}
