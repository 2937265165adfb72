// Package registry lists every function of the stack: the local stack runs
// each template function through it, and the tests check that it and
// template.yaml name the same functions. A function's own binary does not
// import it, so it links only its own edge. Adding a function is a value
// in a package of its own and one line here.
package registry

import (
	"fmt"
	"slices"
	"strings"

	"github.com/edgesync/edgesync/functions"
	"github.com/edgesync/edgesync/functions/queryfunction"
	"github.com/edgesync/edgesync/functions/schedulerfunction"
	"github.com/edgesync/edgesync/functions/wsfunctions"
)

// All returns every function, sorted by name.
func All() []functions.Function {
	all := []functions.Function{wsfunctions.Connect, wsfunctions.Disconnect, wsfunctions.Message, queryfunction.Query, schedulerfunction.Scheduler}
	slices.SortFunc(all, func(a, b functions.Function) int { return strings.Compare(a.Name, b.Name) })
	return all
}

// Names returns every function's name (its logical id in template.yaml), sorted.
func Names() []string {
	var names []string
	for _, f := range All() {
		names = append(names, f.Name)
	}
	return names
}

// Lookup returns the function named name; the error lists the known ones.
func Lookup(name string) (functions.Function, error) {
	for _, f := range All() {
		if f.Name == name {
			return f, nil
		}
	}
	return functions.Function{}, fmt.Errorf("function %q: not one of %s", name, strings.Join(Names(), ", "))
}
