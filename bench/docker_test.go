package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	dockercontainer "github.com/docker/docker/api/types/container"
	dockerevents "github.com/docker/docker/api/types/events"
	dockerclient "github.com/docker/docker/client"

	"github.com/whippet-agent/whippet/pkg/container"
	"github.com/whippet-agent/whippet/pkg/sock"
	"github.com/whippet-agent/whippet/pkg/sock/fakedocker"
)

// dockerFixture is the recorded Docker API of the v1 fake host (Engine 20.10, API 1.41).
const dockerFixture = "../testdata/fakehost/v1/docker"

func readDockerFixture(b *testing.B, name string) []byte {
	b.Helper()
	buf, err := os.ReadFile(filepath.Join(dockerFixture, name))
	if err != nil {
		b.Fatal(err)
	}
	return buf
}

// BenchmarkDockerDecode decodes the same recorded bytes (no I/O):
//
//	list     GET /containers/json?all=1 (4 containers, 13.8 kB)
//	inspect  GET /containers/{id}/json of the ECS web container (5.2 kB)
//	event    one /events line (a create with 8 attributes)
//
//	whippet  sock.DecodeList / DecodeInspect / DecodeEvent: small structs of the fields used
//	docker   encoding/json into github.com/docker/docker's own types (container.Summary,
//	         container.InspectResponse, events.Message), which is what its client does
func BenchmarkDockerDecode(b *testing.B) {
	list := readDockerFixture(b, "containers.json")
	insp := readDockerFixture(b, "containers/0cbed5dba142072315d496a4f4f21230c74020775cb2f6249dc24ea7f8a2129f.json")
	event, _, _ := bytes.Cut(readDockerFixture(b, "events.jsonl"), []byte("\n"))

	b.Run("list/whippet", func(b *testing.B) {
		b.SetBytes(int64(len(list)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sock.DecodeList(list); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("list/docker", func(b *testing.B) {
		b.SetBytes(int64(len(list)))
		b.ReportAllocs()
		for b.Loop() {
			var out []dockercontainer.Summary
			if err := json.Unmarshal(list, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("inspect/whippet", func(b *testing.B) {
		b.SetBytes(int64(len(insp)))
		b.ReportAllocs()
		var m container.Meta
		for b.Loop() {
			if err := sock.DecodeInspect(insp, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("inspect/docker", func(b *testing.B) {
		b.SetBytes(int64(len(insp)))
		b.ReportAllocs()
		for b.Loop() {
			var out dockercontainer.InspectResponse
			if err := json.Unmarshal(insp, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("event/whippet", func(b *testing.B) {
		b.SetBytes(int64(len(event)))
		b.ReportAllocs()
		var e sock.Event
		for b.Loop() {
			if err := sock.DecodeEvent(event, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("event/docker", func(b *testing.B) {
		b.SetBytes(int64(len(event)))
		b.ReportAllocs()
		for b.Loop() {
			var out dockerevents.Message
			if err := json.Unmarshal(event, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDockerResync is one full resynchronisation over a unix socket served by
// fakedocker from the same recordings: list, then inspect each of the 4 containers,
// on a kept-alive connection, after version negotiation.
//
//	whippet  sock.Client.List + Inspect (Inspect also computes the container's tags)
//	docker   client.NewClientWithOpts(WithHost(unix://…), WithAPIVersionNegotiation()):
//	         ContainerList(All) + ContainerInspect, as a Docker-client-based agent does
func BenchmarkDockerResync(b *testing.B) {
	srv := fakedocker.Start(b, dockerFixture)
	ctx := context.Background()

	b.Run("whippet", func(b *testing.B) {
		c := sock.New(srv.Socket, sock.Options{})
		defer c.Close()
		if _, err := c.Negotiate(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			list, err := c.List(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range list {
				if _, err := c.Inspect(ctx, s.ID); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("docker", func(b *testing.B) {
		c, err := dockerclient.NewClientWithOpts(dockerclient.WithHost("unix://"+srv.Socket), dockerclient.WithAPIVersionNegotiation())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Ping(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			list, err := c.ContainerList(ctx, dockercontainer.ListOptions{All: true})
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range list {
				if _, err := c.ContainerInspect(ctx, s.ID); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
