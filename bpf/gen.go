package bpf

// The C program is compiled by clang through bpf2go (pinned as a tool in the root
// go.mod, the same module version as the loader library); the generated .go and .o
// files are committed so that building whippet needs no clang. `make generate`
// runs this; `make check-generate` fails when the committed files are stale.
//
// vmlinux.h is committed, not regenerated here (it would then depend on the build
// machine's kernel); CO-RE relocates every field access at load. It was made with
//
//	bpftool btf dump file /sys/kernel/btf/vmlinux format c > vmlinux.h
//
// on Linux 6.18 (x86_64). The libbpf headers come from Debian's libbpf-dev.

//go:generate go tool bpf2go -tags linux -target bpfel,bpfeb -cflags "-O2 -g -Wall -Werror" tracer tracer.c -- -I.
//go:generate go tool bpf2go -tags linux -target bpfel,bpfeb -cflags "-O2 -g -Wall -Werror" taskiter taskiter.c -- -I.
