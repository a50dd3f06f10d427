package scrub

import "github.com/whippet-agent/whippet/internal/agentscrub"

// oracle is the agent's scrubber rebuilt with regexp (internal/agentscrub);
// hide follows every byte of the joined line through the replacements, to say
// which bytes the agent hides.
type oracle struct{ s *agentscrub.Scrubber }

func newOracle(words []string) *oracle { return &oracle{agentscrub.New(words)} }

func oracleArgs(cmdline []byte) []string { return agentscrub.Args(cmdline) }

func (o *oracle) scrub(args []string) ([]string, bool) { return o.s.Scrub(args) }

func (o *oracle) hide(line string) (string, []bool, []bool) { return o.s.Hide(line) }
