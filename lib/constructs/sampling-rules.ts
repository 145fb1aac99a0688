import * as xray from 'aws-cdk-lib/aws-xray';
import { Construct } from 'constructs';
import { TRACE_SAMPLING } from '../../functions/shared/telemetry';

export interface TraceSamplingRulesProps {
  /** The REST API's name and stage: API Gateway names its segments `{api-name}/{stage}`, which the rules match. */
  readonly apiName: string;
  readonly stageName: string;
}

/**
 * Which API requests X-Ray traces (review M2; docs/observability.md): every one with the debug header, every one of the
 * canary, and about 10 % of the rest. API Gateway applies them (first match by priority) and hands its decision to the
 * function in the trace header, whose spans follow it (functions/shared/trace.ts) down to the workers.
 *
 * What a rule can match on API Gateway: host, method, URL path, the `{api}/{stage}` name and type, the stage ARN, and up
 * to 5 of the request's headers as attributes (each value at most 32 characters, `*` and `?` wildcards). Attribute keys
 * are the header names as sent, and HTTP/2 clients send them in lower case, so the debug header has a rule per spelling.
 * A rule cannot see the body, the caller's identity or the response; failed and slow requests are therefore found in
 * the logs, not by sampling (the functions' `attention` lines).
 */
export class TraceSamplingRules extends Construct {
  readonly rules: xray.CfnSamplingRule[] = [];

  constructor(scope: Construct, id: string, props: TraceSamplingRulesProps) {
    super(scope, id);
    const prefix = `${props.apiName}-${props.stageName}`;
    const every = { fixedRate: 1, reservoirSize: 1 };
    const rule = (name: string, priority: number, rate: { fixedRate: number; reservoirSize: number }, attributes?: Record<string, string>) => {
      const ruleName = `${prefix}-${name}`;
      // X-Ray's limit; names are per account and region.
      if (ruleName.length > 32) throw new Error(`sampling rule name ${ruleName} is longer than 32 characters`);
      this.rules.push(
        new xray.CfnSamplingRule(this, name, {
          samplingRule: {
            ruleName,
            priority,
            ...rate,
            serviceName: `${props.apiName}/${props.stageName}`,
            serviceType: 'AWS::ApiGateway::Stage',
            host: '*',
            httpMethod: '*',
            urlPath: '*',
            resourceArn: '*',
            version: 1,
            ...(attributes ? { attributes } : {}),
          },
        }),
      );
    };
    const { debugHeader, debugValue, canaryUserAgentPrefix } = TRACE_SAMPLING;
    rule('debug', 10, every, { [debugHeader]: debugValue });
    rule('debug-h2', 11, every, { [debugHeader.toLowerCase()]: debugValue });
    rule('canary', 20, every, { 'User-Agent': `${canaryUserAgentPrefix}*` });
    rule('canary-h2', 21, every, { 'user-agent': `${canaryUserAgentPrefix}*` });
    rule('requests', 1000, { fixedRate: TRACE_SAMPLING.ordinaryRate, reservoirSize: TRACE_SAMPLING.ordinaryReservoirPerSecond });
  }
}
