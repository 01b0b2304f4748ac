// Command kubeschema writes the offline Kubernetes schema registry that
// `make lint` runs kubeconform with (see package kubeschema):
//
//	go run ./deploy/kubeschema/cmd/kubeschema -out bin/kubeschema
//	go tool kubeconform -strict -schema-location 'bin/kubeschema/{{ .ResourceKind }}{{ .KindSuffix }}.json' deploy/kubernetes/*.yaml
package main

import (
	"flag"
	"fmt"
	"log"

	"github.com/kaudit/kaudit/deploy/kubeschema"
)

func main() {
	out := flag.String("out", "bin/kubeschema", "directory to write the schemas to")
	flag.Parse()
	defs, err := kubeschema.DefinitionsPath()
	if err != nil {
		log.Fatal(err)
	}
	n, err := kubeschema.Write(defs, *out)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("kubeschema: %d kinds in %s\n", n, *out)
}
