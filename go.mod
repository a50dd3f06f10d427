module github.com/whippet-agent/whippet

go 1.26.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/prometheus/procfs v0.23.0
)

require golang.org/x/sys v0.50.0 // indirect
