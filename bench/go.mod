module github.com/whippet-agent/whippet/bench

go 1.26.0

require github.com/whippet-agent/whippet v0.0.0

require (
	github.com/prometheus/procfs v0.23.0 // indirect
	github.com/shirou/gopsutil/v4 v4.26.10 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/whippet-agent/whippet => ../
