package hostfs

import "testing"

func TestDetect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		dirs    []string
		want    Root
		wantErr bool
	}{
		{name: "bare host", want: Root{proc: "/proc", cgroup: "/sys/fs/cgroup", etc: "/etc", docker: "/var/run/docker.sock"}},
		{name: "ECS task mounts", dirs: []string{"/host/proc", "/host/sys/fs/cgroup"},
			want: Root{proc: "/host/proc", cgroup: "/host/sys/fs/cgroup", etc: "/etc", docker: "/var/run/docker.sock"}},
		{name: "host etc directory mount", dirs: []string{"/host/etc"},
			want: Root{proc: "/proc", cgroup: "/sys/fs/cgroup", etc: "/host/etc", docker: "/var/run/docker.sock"}},
		{name: "env wins over mounts", dirs: []string{"/host/proc", "/host/sys/fs/cgroup"},
			env:  map[string]string{"HOST_PROC": "/hp/", "HOST_SYS": "/hs", "HOST_ETC": "/he", "DOCKER_HOST": "unix:///run/d.sock"},
			want: Root{proc: "/hp", cgroup: "/hs/fs/cgroup", etc: "/he", docker: "/run/d.sock"}},
		{name: "tcp docker host refused", env: map[string]string{"DOCKER_HOST": "tcp://1.2.3.4:2375"}, wantErr: true},
		{name: "empty unix docker host refused", env: map[string]string{"DOCKER_HOST": "unix://"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			getenv := func(k string) string { return tt.env[k] }
			exists := func(p string) bool {
				for _, d := range tt.dirs {
					if d == p {
						return true
					}
				}
				return false
			}
			got, err := Detect(getenv, exists)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Detect() error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("Detect() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	t.Parallel()
	r := At("testdata/fakehost/v1")
	for _, tt := range []struct{ got, want string }{
		{r.Proc("1", "stat"), "testdata/fakehost/v1/proc/1/stat"},
		{r.Proc(), "testdata/fakehost/v1/proc"},
		{r.Cgroup("memory", "docker"), "testdata/fakehost/v1/sys/fs/cgroup/memory/docker"},
		{r.Passwd(), "testdata/fakehost/v1/etc/passwd"},
		{r.Etc("group"), "testdata/fakehost/v1/etc/group"},
		{r.DockerSocket(), "testdata/fakehost/v1/var/run/docker.sock"},
		{r.HostNetProc(), "testdata/fakehost/v1/proc/1"},
		{r.WithProc("/x/proc/").Proc(), "/x/proc"},
		{r.WithCgroup("/c").Cgroup(), "/c"},
		{r.WithEtc("/e").Passwd(), "/e/passwd"},
		{r.WithDockerSocket("/d.sock").DockerSocket(), "/d.sock"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestInContainer(t *testing.T) {
	t.Parallel()
	if New(DefaultProc, DefaultSys, DefaultEtc, DefaultDocker).InContainer() {
		t.Error("the default root reports a container")
	}
	if !New("/host/proc", "/host/sys", DefaultEtc, DefaultDocker).InContainer() {
		t.Error("the ECS task's /host/proc root does not report a container")
	}
}
