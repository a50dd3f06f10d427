module github.com/whippet-agent/whippet/deploy

go 1.26.0

require (
	github.com/aws/aws-sdk-go-v2/service/ecs v1.105.1
	github.com/google/go-cmp v0.7.0
	github.com/whippet-agent/whippet v0.0.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/DataDog/agent-payload/v5 v5.0.215 // indirect
	github.com/DataDog/mmh3 v0.0.0-20200805151601-30884ca2197a // indirect
	github.com/DataDog/zstd v1.4.8 // indirect
	github.com/aws/aws-sdk-go-v2 v1.48.0 // indirect
	github.com/aws/aws-sdk-go-v2/internal/configsources v1.5.12 // indirect
	github.com/aws/aws-sdk-go-v2/internal/endpoints/v2 v2.8.12 // indirect
	github.com/aws/smithy-go v1.28.9 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

replace github.com/whippet-agent/whippet => ../
