//go:build !linux

package host

// ReadFS returns ErrNotSupported outside Linux.
func (r *Reader) ReadFS(s *Snapshot) error {
	s.HasFS, s.FSErr = false, ErrNotSupported
	return ErrNotSupported
}
