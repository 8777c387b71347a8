// Imports the example article into answerlog, edits a section, and prints
// its history and the diff of the edit: the answerlog API from Node.js,
// with @grpc/grpc-js and @grpc/proto-loader reading proto/ as it is.
//
//   node history.mjs --server 127.0.0.1:50051 --token-file TOKEN ../what-causes-jmt.md
//
// The token is read from a file (or ANSWERLOG_TOKEN), never from argv.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { parse as parseToml } from 'smol-toml';

const here = dirname(fileURLToPath(import.meta.url));
const { values, positionals } = parseArgs({
  options: {
    server: { type: 'string', default: '127.0.0.1:50051' },
    'token-file': { type: 'string' },
  },
  allowPositionals: true,
});
if (positionals.length !== 1) {
  console.error('usage: node history.mjs [--server HOST:PORT] [--token-file FILE] ARTICLE.md');
  process.exit(2);
}
const token = values['token-file']
  ? readFileSync(values['token-file'], 'utf8').split('\n')[0].trim()
  : process.env.ANSWERLOG_TOKEN;

const definition = protoLoader.loadSync(join(here, '../../proto/answerlog/v1/answerlog.proto'), {
  includeDirs: [join(here, '../../proto')],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const v1 = grpc.loadPackageDefinition(definition).answerlog.v1;
const credentials = grpc.credentials.createInsecure();
const articles = new v1.ArticleService(values.server, credentials);
const answers = new v1.AnswerService(values.server, credentials);
const audit = new v1.AuditService(values.server, credentials);

/** A unary call as a promise, with the bearer token. */
function call(client, method, request) {
  const metadata = new grpc.Metadata();
  if (token) metadata.set('authorization', `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    client[method](request, metadata, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

/**
 * The import format: TOML front matter between +++ lines, then the
 * question as '# ...', '## Quick Answer', '## Key Facts' and sections.
 */
function draftFrom(path) {
  const [, front, body] = readFileSync(path, 'utf8').split('+++\n');
  const meta = parseToml(front);
  const blocks = new Map();
  let heading = null;
  for (const line of body.split('\n')) {
    if (line.startsWith('## ')) {
      heading = line.slice(3).trim();
      blocks.set(heading, []);
    } else if (heading !== null) {
      blocks.get(heading).push(line);
    }
  }
  const textOf = (h) => (blocks.get(h) ?? []).join('\n').trim();
  const title = body.split('\n').find((l) => l.startsWith('# '))?.slice(2).trim() ?? '';
  // TOML dates parse as Date objects (smol-toml's TomlDate): YYYY-MM-DD.
  const date = (d) => (!d ? '' : typeof d === 'string' ? d : d.toISOString()).slice(0, 10);
  return {
    slug: meta.slug ?? '',
    question: meta.question ?? title,
    quick_answer: textOf('Quick Answer'),
    key_facts: (blocks.get('Key Facts') ?? []).filter((l) => l.startsWith('- ')).map((l) => l.slice(2).trim()),
    sections: [...blocks.keys()]
      .filter((h) => h !== 'Quick Answer' && h !== 'Key Facts')
      .map((h) => ({ heading: h, body: textOf(h) })),
    sources: (meta.sources ?? []).map((s) => ({
      title: s.title,
      publisher: s.publisher,
      url: s.url ?? '',
      license: s.license,
      accessed_on: date(s.accessed),
    })),
    last_updated: date(meta.last_updated),
    provenance: { ai_assisted: meta.ai_assisted ?? false, generator: meta.generator ?? '' },
    disclaimer: meta.disclaimer ?? '',
  };
}

const draft = draftFrom(positionals[0]);
const created = await call(articles, 'CreateArticle', {
  command_id: randomUUID(),
  reason: 'Imported from Node',
  article: draft,
});
console.log(`created ${created.article_id} version ${created.version}`);

const { answer } = await call(answers, 'GetAnswer', { id: created.article_id });
const section = answer.sections[0];
const edited = await call(articles, 'EditSection', {
  article_id: created.article_id,
  expected_version: created.version,
  command_id: randomUUID(),
  reason: 'Tighten the first section',
  section_id: section.id,
  body: section.body.split('\n\n')[0],
});
console.log(`edited section ${section.id}: version ${edited.version}`);

// The history, read once the edit is applied (min_position).
const history = await call(audit, 'ListRevisions', {
  id: created.article_id,
  min_position: edited.global_position,
});
console.log(`history of ${answer.slug}:`);
for (const r of history.revisions) {
  console.log(`  v${r.version}  pos ${r.global_position}  ${r.actor}  ${r.event_kinds.join(', ')}  ${r.reason}`);
}

// What the edit changed.
const diff = await call(audit, 'DiffVersions', {
  article_id: created.article_id,
  from_version: created.version,
  to_version: edited.version,
});
for (const change of diff.sections) {
  console.log(`diff v${created.version}..v${edited.version}: section ${change.section_id} ${change.change}`);
}
for (const client of [articles, answers, audit]) client.close();
