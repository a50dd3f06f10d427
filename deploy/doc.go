// Package deploy holds whippet's deployment artefacts — the image's Dockerfile
// and build script, the ECS DAEMON task definition that replaces Datadog's
// datadog-agent-ecs.json, and a CloudFormation stack for it — and the tests
// that keep them valid and in step with the agent's own expectations (hostfs
// mount detection, configuration). See README.md.
//
// It is a module of its own so the ECS SDK its tests decode with never enters
// the agent's go.mod.
package deploy
