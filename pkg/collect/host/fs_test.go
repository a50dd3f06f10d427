package host

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/procfs"
)

// mountLine is MountLine with strings, for comparing.
type mountLine struct {
	Major, Minor                     uint32
	Root, MountPoint, FSType, Source string
}

func (m *MountLine) strs() mountLine {
	return mountLine{m.Major, m.Minor, string(m.Root), string(m.MountPoint), string(m.FSType), string(m.Source)}
}

func TestParseMountLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want mountLine
		err  string
	}{
		{name: "root", in: "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard",
			want: mountLine{254, 0, "/", "/", "ext4", "/dev/vda"}},
		{name: "bind with optional field", in: "43 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw",
			want: mountLine{254, 0, "/var/lib/docker", "/var/lib/docker", "ext4", "/dev/vda"}},
		{name: "two optional fields", in: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue",
			want: mountLine{98, 0, "/mnt1", "/mnt2", "ext3", "/dev/root"}},
		{name: "escaped space kept", in: `50 27 8:1 / /mnt/my\040disk rw - xfs /dev/sdb1 rw`,
			want: mountLine{8, 1, "/", `/mnt/my\040disk`, "xfs", "/dev/sdb1"}},
		{name: "no super options", in: "50 27 8:1 / /x rw - xfs /dev/sdb1",
			want: mountLine{8, 1, "/", "/x", "xfs", "/dev/sdb1"}},
		{name: "large minor", in: "50 27 259:1048575 / /x rw - xfs /dev/nvme9n1p9 rw",
			want: mountLine{259, 1048575, "/", "/x", "xfs", "/dev/nvme9n1p9"}},
		{name: "empty", in: "", err: "mountinfo: mount ID: missing"},
		{name: "no separator", in: "27 1 254:0 / / rw,relatime ext4 /dev/vda rw", err: "mountinfo: separator: missing"},
		{name: "no source", in: "27 1 254:0 / / rw - ext4", err: "mountinfo: source: missing"},
		{name: "no type", in: "27 1 254:0 / / rw -", err: "mountinfo: filesystem type: missing"},
		{name: "bad dev", in: "27 1 254 / / rw - ext4 /dev/vda rw", err: `mountinfo: major:minor: invalid value "254"`},
		{name: "bad minor", in: "27 1 254:x / / rw - ext4 /dev/vda rw", err: `mountinfo: major:minor: invalid value "254:x"`},
		{name: "huge major", in: "27 1 4294967296:0 / / rw - ext4 /dev/vda rw", err: `mountinfo: major:minor: value out of range "4294967296:0"`},
		{name: "truncated", in: "27 1 254:0 /", err: "mountinfo: mount point: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var m MountLine
			err := ParseMountLine([]byte(tt.in), &m)
			if errText(err) != tt.err {
				t.Fatalf("ParseMountLine(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			if err == nil && m.strs() != tt.want {
				t.Errorf("ParseMountLine(%q) = %+v, want %+v", tt.in, m.strs(), tt.want)
			}
		})
	}
}

// TestParseMountLineProcfs parses every line of the captured and the live
// mount tables and compares each with prometheus/procfs's parse.
func TestParseMountLineProcfs(t *testing.T) {
	t.Parallel()
	inputs := map[string]string{"testdata": filepath.Join("testdata", "mountinfo")}
	if _, err := os.Stat(liveRoot.Proc("1", "mountinfo")); err == nil {
		inputs["live"] = liveRoot.Proc("1", "mountinfo")
	}
	for name, path := range inputs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for ln := range strings.Lines(string(b)) {
				ln = strings.TrimSuffix(ln, "\n")
				var m MountLine
				if err := ParseMountLine([]byte(ln), &m); err != nil {
					t.Errorf("ParseMountLine(%q): %v", ln, err)
					continue
				}
				o, err := procfsMountLine(ln)
				if err != nil {
					t.Fatalf("procfs on %q: %v", ln, err)
				}
				got := m.strs()
				want := mountLine{got.Major, got.Minor, o.Root, o.MountPoint, o.FSType, o.Source}
				if o.MajorMinorVer != strconv.FormatUint(uint64(got.Major), 10)+":"+strconv.FormatUint(uint64(got.Minor), 10) {
					t.Errorf("ParseMountLine(%q) dev %d:%d, procfs %s", ln, got.Major, got.Minor, o.MajorMinorVer)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("ParseMountLine(%q) (-procfs +ours):\n%s", ln, diff)
				}
			}
		})
	}
}

// procfsMountLine parses one line with procfs through a one-line mountinfo file.
func procfsMountLine(ln string) (*procfs.MountInfo, error) {
	dir, err := os.MkdirTemp("", "mountinfo")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "1"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "1", "mountinfo"), []byte(ln+"\n"), 0o644); err != nil {
		return nil, err
	}
	fs, err := procfs.NewFS(dir)
	if err != nil {
		return nil, err
	}
	ms, err := fs.GetProcMounts(1)
	if err != nil {
		return nil, err
	}
	return ms[0], nil
}

func TestUnescape(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`/mnt/my\040disk`:  "/mnt/my disk",
		`/a\011b\012c\134`: "/a\tb\nc\\",
		`/plain`:           "/plain",
		`/short\04`:        `/short\04`,
		`/not\999`:         `/not\999`,
		`\`:                `\`,
		``:                 ``,
	} {
		if got := string(Unescape(nil, []byte(in))); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseFilesystems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
		err  string
	}{
		{name: "typical", in: "nodev\tsysfs\nnodev\ttmpfs\n\text3\n\text4\nnodev\toverlay\n\txfs\n", want: []string{"ext3", "ext4", "xfs"}},
		{name: "empty", in: "", want: nil},
		{name: "blank lines", in: "\n\n\txfs\n\n", want: []string{"xfs"}},
		{name: "lone nodev", in: "nodev\n", err: `filesystems: invalid value "nodev"`},
		{name: "three fields", in: "\text4 x\n", err: `filesystems: invalid value "\text4 x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseFilesystems([]byte(tt.in), nil)
			if errText(err) != tt.err {
				t.Fatalf("ParseFilesystems(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			if err == nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("ParseFilesystems(%q) (-want +got):\n%s", tt.in, diff)
				}
			}
		})
	}
}

func TestKeepMount(t *testing.T) {
	t.Parallel()
	types := []string{"ext4", "xfs", "iso9660", "btrfs"}
	tests := []struct {
		line string
		want bool
	}{
		{"27 1 254:0 / / rw - ext4 /dev/vda rw", true},
		{"28 27 0:25 / /tmp rw - tmpfs tmpfs rw", false},                                  // nodev
		{"49 43 0:40 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw", false}, // nodev
		{"42 23 0:13 / /sys/kernel/tracing rw - tracefs nodev rw", false},
		{"60 27 11:0 / /media/cd ro - iso9660 /dev/sr0 ro", false}, // excluded by the agent
		{"61 27 8:1 / /data rw - xfs none rw", false},              // no source
		{"62 27 8:2 / /proc/sys/fs/binfmt_misc rw - xfs /dev/sdb rw", false},
		{"63 27 8:3 / /host/proc/sys/fs/binfmt_misc rw - xfs /dev/sdc rw", false},
		{"64 27 0:50 / /vol rw - btrfs /dev/sdd rw", true},
		{"65 27 0:51 / /fuse rw - fuse.sshfs host:/ rw", false}, // subtype not a block fs
	}
	for _, tt := range tests {
		var m MountLine
		if err := ParseMountLine([]byte(tt.line), &m); err != nil {
			t.Fatal(err)
		}
		if got := keepMount(&m, Unescape(nil, m.MountPoint), types); got != tt.want {
			t.Errorf("keepMount(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestParseMountLineAllocs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	var m MountLine
	if n := testing.AllocsPerRun(50, func() {
		for rest := b; len(rest) > 0; {
			var ln []byte
			ln, rest = line(rest)
			if err := ParseMountLine(ln, &m); err != nil {
				t.Fatal(err)
			}
		}
	}); n != 0 {
		t.Errorf("ParseMountLine allocates %v times per table, want 0", n)
	}
}

func BenchmarkParseMountinfo(b *testing.B) {
	in, err := os.ReadFile(filepath.Join("testdata", "mountinfo"))
	if err != nil {
		b.Fatal(err)
	}
	var m MountLine
	b.ReportAllocs()
	for b.Loop() {
		for rest := in; len(rest) > 0; {
			var ln []byte
			ln, rest = line(rest)
			if err := ParseMountLine(ln, &m); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func FuzzParseMountLine(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "mountinfo")); err == nil {
		for ln := range bytes.Lines(b) {
			f.Add(bytes.TrimSuffix(ln, []byte("\n")))
		}
	}
	f.Add([]byte(`36 35 98:0 /mnt1 /mnt\0402 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var m MountLine
		if ParseMountLine(in, &m) != nil {
			return
		}
		// What we accept is what a blank split sees around the " - ".
		fields := strings.FieldsFunc(string(in), func(r rune) bool { return r == ' ' || r == '\t' })
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 6 || sep < 0 || sep+2 >= len(fields) {
			t.Fatalf("ParseMountLine(%q) accepted %d fields, separator at %d", in, len(fields), sep)
		}
		maj, min, _ := strings.Cut(fields[2], ":")
		vmaj, err1 := strconv.ParseUint(maj, 10, 32)
		vmin, err2 := strconv.ParseUint(min, 10, 32)
		want := mountLine{uint32(vmaj), uint32(vmin), fields[3], fields[4], fields[sep+1], fields[sep+2]}
		if got := m.strs(); err1 != nil || err2 != nil || got != want {
			t.Fatalf("ParseMountLine(%q) = %+v, fields say %+v (%v, %v)", in, got, want, err1, err2)
		}
	})
}
