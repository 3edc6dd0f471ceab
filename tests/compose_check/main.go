// Command compose-check loads a Compose file as `docker compose` does, with compose-go (the library docker compose
// loads files with): the Compose Specification's schema, `.env` interpolation including `${VAR:?message}`,
// normalization and consistency checks. It prints the resolved project as JSON, or the loader's error with exit
// status 1. tests/stack_files.rs runs it (built by `make compose-check`); it is not shipped.
//
//	compose-check --env-file FILE [--env-file FILE...] docker-compose.yml
//
// Only the given env files are read: the process environment is ignored, so a test decides every value.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	var envFiles files
	flag.Var(&envFiles, "env-file", "an env file compose reads (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 || len(envFiles) == 0 {
		fmt.Fprintln(os.Stderr, "usage: compose-check --env-file FILE COMPOSE_FILE")
		os.Exit(2)
	}
	options, err := cli.NewProjectOptions(flag.Args(), cli.WithEnvFiles(envFiles...), cli.WithDotEnv)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
