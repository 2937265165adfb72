// Package samlocal reads the files of the SAM user's local loop the way SAM
// CLI reads them: env.json, the --env-vars file of `sam local invoke` and
// `sam local start-api` (see EnvVars). The sample events in events/ need no
// code: they are the JSON API Gateway sends.
//
// Its tests are the local loop's proof without Docker: they feed every
// events/ file, with env.json's environment, to its function's real
// bootstrap under aws-lambda-runtime-interface-emulator, as `sam local`
// does in its container, with dynalite in place of LocalStack's DynamoDB;
// and they run localstack/deploy.sh with stub executables and check its
// scripts with bash -n and ShellCheck.
package samlocal
