import { detail, type Answer, type Incoming, type RouteContext } from './answer.js';
import { routeV1 } from './routes-v1.js';
import { routeV2 } from './routes-v2.js';
import { routeWebhookConfigs } from './routes-webhook-configs.js';

/** Answers one authorised request, as LlamaCloud's APIs do. */
export async function route(context: RouteContext, incoming: Incoming): Promise<Answer> {
  const parts = incoming.path.split('/').filter(Boolean).map(decodeURIComponent);
  let answer: Answer | undefined;
  if (parts[0] === 'api') {
    const [, first, second, third] = parts;
    // The last official client with v1 calls used /api/parsing/; /api/v1/parsing/ works too.
    if (first === 'parsing') answer = await routeV1(context, incoming, parts.slice(2));
    else if (first === 'v1' && second === 'parsing') {
      answer = await routeV1(context, incoming, parts.slice(3));
    } else if (first === 'v2' && second === 'parse') {
      answer = await routeV2(context, incoming, parts.slice(3));
    } else if (first === 'v1' && second === 'beta' && third === 'webhook-configs') {
      answer = routeWebhookConfigs(context, incoming, parts.slice(4));
    }
  }
  return answer ?? detail(404, 'Not Found');
}
