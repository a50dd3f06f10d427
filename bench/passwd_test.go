package bench

import (
	"os"
	"os/user"
	"strconv"
	"testing"

	"github.com/whippet-agent/whippet/pkg/collect/passwd"
)

// BenchmarkPasswd names a uid the passwd file has and one it lacks:
//
//	whippet  passwd.DB.Lookup (interned names, the decimal form for unknown uids)
//	osuser   os/user.LookupId (getpwuid_r through cgo, or a parse of /etc/passwd
//	         per call without cgo)
//
// and checks the file for changes (whippet/refresh: open+fstat+close).
func BenchmarkPasswd(b *testing.B) {
	db, err := passwd.New(liveRoot)
	if err != nil {
		b.Skipf("no live passwd: %v", err)
	}
	// The known uid must not be ours: os/user answers the current user from a
	// cache.
	known, ok := uint32(0), false
	content, err := os.ReadFile(liveRoot.Passwd())
	if err != nil {
		b.Fatal(err)
	}
	passwd.Parse(content, func(uid uint32, _ []byte) {
		if !ok && int(uid) != os.Getuid() {
			known, ok = uid, true
		}
	})
	if !ok {
		b.Skip("passwd names no user but us")
	}
	for _, uid := range []struct {
		name string
		id   uint32
	}{{"known", known}, {"unknown", 4242424}} {
		text := strconv.FormatUint(uint64(uid.id), 10)
		b.Run("whippet/"+uid.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = db.Lookup(uid.id)
			}
		})
		b.Run("osuser/"+uid.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				// An unknown uid is an UnknownUserIdError, the name is then the
				// number, as whippet's.
				if u, err := user.LookupId(text); err == nil {
					_ = u.Username
				}
			}
		})
	}
	b.Run("whippet/refresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.Refresh(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
