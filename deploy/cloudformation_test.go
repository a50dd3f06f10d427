package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"
)

const templateFile = "cloudformation.yaml"

// pseudoParams are the AWS:: references CloudFormation defines itself.
var pseudoParams = []string{"AWS::AccountId", "AWS::NoValue", "AWS::Partition", "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}

// obj is a decoded YAML/JSON object.
type obj = map[string]any

// fromYAML turns a node into plain values, CloudFormation's short tags (!Ref x,
// !GetAtt a.b, !Sub s, !<Fn> v) into their long forms ({"Ref": x}, {"Fn::GetAtt":
// [a, b]}, {"Fn::Sub": s}, {"Fn::<Fn>": v}).
func fromYAML(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return fromYAML(n.Content[0])
	case yaml.AliasNode:
		return fromYAML(n.Alias)
	case yaml.MappingNode:
		m := obj{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := fromYAML(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		s := []any{}
		for _, c := range n.Content {
			val, err := fromYAML(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
			if err := n.Decode(&v); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			return v, nil
		}
		v = n.Value
	}
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	switch fn := n.Tag[1:]; fn {
	case "Ref":
		return obj{"Ref": v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, ok := strings.Cut(s, ".")
			if !ok {
				return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
		return obj{"Fn::GetAtt": v}, nil
	default:
		return obj{"Fn::" + fn: v}, nil
	}
}

// template is a parsed CloudFormation template.
type template struct {
	AWSTemplateFormatVersion string
	Description              string
	Parameters               map[string]obj
	Resources                map[string]obj
	Outputs                  map[string]obj
}

func readTemplate(t *testing.T) *template {
	t.Helper()
	b, err := os.ReadFile(templateFile)
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatalf("%s: %v", templateFile, err)
	}
	v, err := fromYAML(&n)
	if err != nil {
		t.Fatalf("%s: %v", templateFile, err)
	}
	// Round-trip through JSON into the typed view, refusing unknown sections.
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tm template
	if err := decodeStrict(j, &tm, cfnName); err != nil {
		t.Fatalf("%s: %v", templateFile, err)
	}
	return &tm
}

// resource returns the resource named name, which must have type typ.
func (tm *template) resource(t *testing.T, name, typ string) obj {
	t.Helper()
	r, ok := tm.Resources[name]
	if !ok {
		t.Fatalf("no resource %s", name)
	}
	if r["Type"] != typ {
		t.Fatalf("resource %s is a %v, want %s", name, r["Type"], typ)
	}
	p, _ := r["Properties"].(obj)
	return p
}

// refTarget returns x of {"Ref": x} or of {"Fn::GetAtt": [x, _]}.
func refTarget(v any) string {
	o, _ := v.(obj)
	if s, ok := o["Ref"].(string); ok {
		return s
	}
	if a, ok := o["Fn::GetAtt"].([]any); ok && len(a) == 2 {
		s, _ := a[0].(string)
		return s
	}
	return ""
}

var subVar = regexp.MustCompile(`\$\{([^}!]+)\}`)

// resolve replaces intrinsics by values: a parameter's default, else
// "{Name}" for a parameter without one, a resource, a pseudo parameter or an
// attribute. It reports a reference to nothing the template defines.
func (tm *template) resolve(v any) (any, error) {
	name := func(ref string) (string, error) {
		if p, ok := tm.Parameters[ref]; ok {
			if d, ok := p["Default"]; ok {
				return fmt.Sprint(d), nil
			}
			return "{" + ref + "}", nil
		}
		res, _, _ := strings.Cut(ref, ".")
		if _, ok := tm.Resources[res]; ok || slices.Contains(pseudoParams, ref) {
			return "{" + ref + "}", nil
		}
		return "", fmt.Errorf("reference to undefined %q", ref)
	}
	switch x := v.(type) {
	case obj:
		if r, ok := x["Ref"].(string); ok && len(x) == 1 {
			return name(r)
		}
		if a, ok := x["Fn::GetAtt"].([]any); ok && len(x) == 1 && len(a) == 2 {
			return name(fmt.Sprintf("%v.%v", a[0], a[1]))
		}
		if s, ok := x["Fn::Sub"].(string); ok && len(x) == 1 {
			var err error
			out := subVar.ReplaceAllStringFunc(s, func(m string) string {
				r, e := name(m[2 : len(m)-1])
				if e != nil && err == nil {
					err = e
				}
				return r
			})
			return out, err
		}
		for k := range x {
			if strings.HasPrefix(k, "Fn::") {
				return nil, fmt.Errorf("intrinsic %s is not handled here", k)
			}
		}
		out := obj{}
		for k, e := range x {
			r, err := tm.resolve(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := tm.resolve(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

func TestTemplateReferences(t *testing.T) {
	t.Parallel()
	tm := readTemplate(t)
	for _, section := range []map[string]obj{tm.Resources, tm.Outputs} {
		for name, r := range section {
			if _, err := tm.resolve(r); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	for _, p := range []string{"ClusterName", "Image", "ApiKeySecretArn", "Site"} {
		if _, ok := tm.Parameters[p]; !ok {
			t.Errorf("no parameter %s", p)
		}
	}
	site := tm.Parameters["Site"]
	if allowed, _ := site["AllowedValues"].([]any); !slices.Contains(allowed, site["Default"]) {
		t.Errorf("Site default %v not among its allowed values %v", site["Default"], allowed)
	}
}

// statements returns the IAM statements of a role's inline policies.
func statements(role obj) []obj {
	var out []obj
	pols, _ := role["Policies"].([]any)
	for _, p := range pols {
		doc, _ := p.(obj)["PolicyDocument"].(obj)
		sts, _ := doc["Statement"].([]any)
		for _, s := range sts {
			if so, ok := s.(obj); ok {
				out = append(out, so)
			}
		}
	}
	return out
}

// actions lists a statement's Action, a string or a list.
func actions(s obj) []string {
	switch a := s["Action"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

func assumedByECSTasks(role obj) bool {
	doc, _ := role["AssumeRolePolicyDocument"].(obj)
	sts, _ := doc["Statement"].([]any)
	for _, s := range sts {
		so, _ := s.(obj)
		p, _ := so["Principal"].(obj)
		if p["Service"] == "ecs-tasks.amazonaws.com" && so["Effect"] == "Allow" && slices.Contains(actions(so), "sts:AssumeRole") {
			return true
		}
	}
	return false
}

func TestTemplateResources(t *testing.T) {
	t.Parallel()
	tm := readTemplate(t)
	td := tm.resource(t, "TaskDefinition", "AWS::ECS::TaskDefinition")

	taskRole := tm.resource(t, refTarget(td["TaskRoleArn"]), "AWS::IAM::Role")
	var got []string
	for _, s := range statements(taskRole) {
		got = append(got, actions(s)...)
	}
	sort.Strings(got)
	if want := []string{"ecs:DescribeContainerInstances", "ecs:ListClusters", "ecs:ListContainerInstances"}; !slices.Equal(got, want) {
		t.Errorf("task role actions = %v, want %v", got, want)
	}

	execRole := tm.resource(t, refTarget(td["ExecutionRoleArn"]), "AWS::IAM::Role")
	managed, err := tm.resolve(execRole["ManagedPolicyArns"])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(managed.([]any), func(a any) bool {
		return strings.HasSuffix(fmt.Sprint(a), ":iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
	}) {
		t.Errorf("execution role managed policies = %v, want AmazonECSTaskExecutionRolePolicy", managed)
	}
	if !slices.ContainsFunc(statements(execRole), func(s obj) bool {
		return slices.Contains(actions(s), "secretsmanager:GetSecretValue") && refTarget(s["Resource"]) == "ApiKeySecretArn"
	}) {
		t.Errorf("execution role: no secretsmanager:GetSecretValue on !Ref ApiKeySecretArn")
	}
	for name, role := range map[string]obj{"task": taskRole, "execution": execRole} {
		if !assumedByECSTasks(role) {
			t.Errorf("%s role is not assumable by ecs-tasks.amazonaws.com", name)
		}
	}

	cds, _ := td["ContainerDefinitions"].([]any)
	if len(cds) != 1 {
		t.Fatalf("%d container definitions, want 1", len(cds))
	}
	lc, _ := cds[0].(obj)["LogConfiguration"].(obj)
	opts, _ := lc["Options"].(obj)
	tm.resource(t, refTarget(opts["awslogs-group"]), "AWS::Logs::LogGroup")
	if secrets, _ := cds[0].(obj)["Secrets"].([]any); len(secrets) != 1 || refTarget(secrets[0].(obj)["ValueFrom"]) != "ApiKeySecretArn" {
		t.Errorf("secrets = %v, want DD_API_KEY from !Ref ApiKeySecretArn", secrets)
	}

	svc := tm.resource(t, "Service", "AWS::ECS::Service")
	if svc["SchedulingStrategy"] != "DAEMON" || refTarget(svc["TaskDefinition"]) != "TaskDefinition" || refTarget(svc["Cluster"]) != "ClusterName" {
		t.Errorf("service = %v, want DAEMON scheduling of !Ref TaskDefinition on !Ref ClusterName", svc)
	}
}

// TestTemplateMatchesTaskDefinition decodes the template's task definition, its
// intrinsics resolved, strictly into the same SDK type as the JSON file and
// compares what must not drift: container, mounts, volumes, environment,
// secret names, privileges and sizes.
func TestTemplateMatchesTaskDefinition(t *testing.T) {
	t.Parallel()
	tm := readTemplate(t)
	props, err := tm.resolve(tm.resource(t, "TaskDefinition", "AWS::ECS::TaskDefinition"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(props)
	if err != nil {
		t.Fatal(err)
	}
	var fromCFN ecs.RegisterTaskDefinitionInput
	if err := decodeStrict(b, &fromCFN, cfnName); err != nil {
		t.Fatalf("template task definition: %v", err)
	}
	fromJSON, _ := readTaskDef(t)
	if len(fromCFN.ContainerDefinitions) != 1 {
		t.Fatalf("template: %d containers, want 1", len(fromCFN.ContainerDefinitions))
	}
	// What legitimately differs: ARNs, image and log destination are the stack's.
	strip := func(td *ecs.RegisterTaskDefinitionInput) {
		td.TaskRoleArn, td.ExecutionRoleArn = nil, nil
		c := &td.ContainerDefinitions[0]
		c.Image, c.LogConfiguration = nil, nil
		for i := range c.Secrets {
			c.Secrets[i].ValueFrom = nil
		}
	}
	strip(&fromCFN)
	strip(fromJSON)
	ignore := cmpopts.IgnoreUnexported(ecs.RegisterTaskDefinitionInput{}, types.ContainerDefinition{}, types.MountPoint{},
		types.KeyValuePair{}, types.Secret{}, types.Volume{}, types.HostVolumeProperties{})
	if diff := cmp.Diff(fromJSON, &fromCFN, ignore); diff != "" {
		t.Errorf("%s and %s differ (-json +cloudformation):\n%s", taskDefFile, templateFile, diff)
	}
}
