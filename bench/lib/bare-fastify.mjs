// The ingest baseline: a bare Fastify endpoint on the callback route that reads the body (raw
// bytes, up to the gateway's default 10 MiB limit, like the gateway) and answers 202.
import Fastify from 'fastify';
import { serve } from './ipc.mjs';

const app = Fastify({ logger: false, bodyLimit: 10 * 1024 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
app.post('/v1/callbacks/llamaparse/:token', async (_request, reply) =>
  reply.code(202).send({ accepted: true, callback_id: 'bare' }),
);
await app.listen({ port: 0, host: '127.0.0.1' });
serve({ port: () => app.server.address().port });
