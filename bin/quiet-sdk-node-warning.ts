// Imported first by the local tools (npm start, npm run dlq, npm run bench). The AWS SDK warns, at the first client
// each process makes, that its releases after January 2027 will need Node 22; TaskFlow's functions run on nodejs22.x
// in AWS, where it never fires, and the local tools run on the Node 20 package.json allows, where it is noise. This is
// the SDK's own switch (@aws-sdk/core's emitWarningIfUnsupportedVersion), read when a client is made: the local
// runtime makes its SQS client at start, outside any function's environment, and the SDK warns at most once per process.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
