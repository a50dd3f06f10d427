//go:build !linux

package pfile
