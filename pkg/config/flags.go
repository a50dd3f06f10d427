package config

import (
	"flag"
	"strconv"
)

// flagValue holds a flag's text as given; Load parses it, so a bad flag value
// is reported with the others, naming its source.
type flagValue struct {
	s      string
	isBool bool
}

func (f *flagValue) String() string { return f.s }

func (f *flagValue) Set(s string) error {
	f.s = s
	return nil
}

// IsBoolFlag lets a boolean setting's flag stand alone (-pprof).
func (f *flagValue) IsBoolFlag() bool { return f.isBool }

// RegisterFlags defines on fs the flags of the main settings (-config, -site,
// -hostname, -tags, -dd-url, -output, -metrics-interval, -process-interval,
// -spool-dir, -status-addr, -pprof; never the API key: secrets stay out of
// argv). The returned function, called after fs.Parse, gives the flags the user
// set, by name, for Sources.Flags; it includes -log-level when the caller
// defines it, since log_level's flag belongs to cmd/agent.
func RegisterFlags(fs *flag.FlagSet) func() map[string]string {
	for i := range settings {
		s := &settings[i]
		if !s.register {
			continue
		}
		_, isBool := s.v.get(&Config{}).(bool)
		usage := s.doc
		if s.def != "" {
			usage += " (default " + strconv.Quote(s.def) + ")"
		}
		fs.Var(&flagValue{isBool: isBool}, s.flag, usage)
	}
	return func() map[string]string {
		set := map[string]string{}
		fs.Visit(func(f *flag.Flag) {
			if settingByFlag(f.Name) != nil {
				set[f.Name] = f.Value.String()
			}
		})
		return set
	}
}
