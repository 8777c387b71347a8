// The web view's scenarios in a real browser (issue 17): Debian's chromium,
// headless, driven by playwright-core. tests/web.rs starts the real server
// on a free loopback port, seeds it through the generated gRPC client, and
// runs this script with what it made in the environment:
//
//   ANSWERLOG_WEB_URL        the HTTP listener, http://127.0.0.1:PORT
//   ANSWERLOG_CHROMIUM       the browser (Debian's /usr/bin/chromium)
//   ANSWERLOG_SCREENSHOTS    where each page's screenshot goes
//   ANSWERLOG_TOKENS         JSON: {"reader": …, "writer": …, "auditor": …}
//   ANSWERLOG_SCENARIO       JSON: what the seed made (slugs, the edit, …)
//
// Each scenario prints "ok NAME" or "FAILED NAME: why"; the exit status is
// 1 if any failed. A suggestion's text is printed as "suggested TEXT" for
// the Rust side to find over gRPC.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, generateKeyPairSync } from 'node:crypto';

const base = process.env.ANSWERLOG_WEB_URL;
const shots = process.env.ANSWERLOG_SCREENSHOTS;
const tokens = JSON.parse(process.env.ANSWERLOG_TOKENS);
const seed = JSON.parse(process.env.ANSWERLOG_SCENARIO);
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.ANSWERLOG_CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run'],
});

/// A C2SP verifier key of a new witness (type 0x04) named `name`.
function witnessKey(name) {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const typed = Buffer.concat([Buffer.from([4]), raw]);
  const id = createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), typed])).digest().subarray(0, 4);
  return `${name}+${id.toString('hex')}+${typed.toString('base64')}`;
}

function check(condition, why) {
  if (!condition) throw new Error(why);
}

function same(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

/// A fresh browser context (its own cookies) logged in with `token`.
async function loggedIn(token, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  await page.goto(`${base}/`);
  await page.fill('#token', token);
  await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
  return { context, page };
}

async function shot(page, name, fullPage = true) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage });
}

/// Every visible form control has a label that names it.
async function labelled(page) {
  const unlabelled = await page.$$eval(
    'input:not([type=hidden]), textarea, select',
    (controls) => controls
      .filter((c) => !(c.id && document.querySelector(`label[for="${c.id}"]`)) && !c.getAttribute('aria-label'))
      .map((c) => c.outerHTML),
  );
  same(unlabelled, [], 'form controls without a label');
}

const scenarios = {
  async 'log in'() {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(`${base}/a/${seed.slug}`);
    check(page.url().startsWith(`${base}/login?next=`), `a visitor is sent to log in, not to ${page.url()}`);
    await labelled(page);
    await shot(page, 'login');
    await page.fill('#token', 'not-a-token');
    await page.click('button[type=submit]');
    const error = await page.textContent('#token-error');
    check(error.includes('token: no principal has this token'), `a wrong token is named: ${error}`);
    check((await page.getAttribute('#token', 'aria-invalid')) === 'true', 'the field is marked invalid');
    await page.fill('#token', tokens.auditor);
    await Promise.all([page.waitForURL(`${base}/a/${seed.slug}`), page.click('button[type=submit]')]);
    const cookies = await context.cookies();
    same(cookies.length, 1, 'cookies set');
    const [cookie] = cookies;
    same([cookie.name, cookie.httpOnly, cookie.secure, cookie.sameSite, cookie.path],
      ['__Host-answerlog', true, true, 'Strict', '/'], 'the session cookie');
    check(!cookie.value.includes(tokens.auditor), 'the cookie is not the token');
    const who = await page.textContent('.who');
    check(who.includes('avery') && who.includes('auditor'), `the bar names the caller: ${who}`);
    // Logging out ends the session: the next page asks to log in again.
    await Promise.all([page.waitForURL(/\/login$/), page.click('.who button')]);
    await page.goto(`${base}/`);
    check(page.url().startsWith(`${base}/login`), 'after logout the list asks to log in');
    await context.close();
  },

  async 'the reference article, every part'() {
    const { context, page } = await loggedIn(tokens.reader);
    const response = await page.goto(`${base}/a/${seed.slug}`);
    const csp = response.headers()['content-security-policy'];
    check(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), `the CSP allows no inline script: ${csp}`);
    same(await page.textContent('h1'), seed.question, 'the question');
    const disclaimer = await page.textContent('.disclaimer');
    check(disclaimer.includes('Content is AI-assisted and should not be used as professional advice'), `the disclaimer: ${disclaimer}`);
    const meta = await page.textContent('article .meta');
    check(meta.includes(`Last updated: ${seed.last_updated_long}`), `Last updated: ${meta}`);
    check(meta.includes('AI-assisted'), `AI-assisted is said: ${meta}`);
    same((await page.textContent('.quick p')).trim(), seed.quick_answer, 'the quick answer');
    same(await page.$$eval('.facts li', (l) => l.map((e) => e.textContent.trim())), seed.key_facts, 'the key facts');
    same(await page.$$eval('article section[id^=section-] > h2', (l) => l.map((e) => e.textContent.trim())),
      seed.section_headings, 'the sections, in order');
    const lists = await page.$$eval('article section[id^=section-] li', (l) => l.length);
    check(lists >= 6, `the sections' bullet lists render as lists (${lists} items)`);
    same(await page.$$eval('.sources li', (l) => l.map((e) => e.textContent.replace(/\s+/g, ' ').trim())),
      seed.sources, 'the sources with publisher and licence');
    same((await page.textContent('#suggest-heading')).trim(), 'Missing an answer?', 'the suggest heading');
    // A reader sees no history link.
    same(await page.$$eval('a[href$="/history"]', (l) => l.length), 0, 'history links a reader sees');
    await labelled(page);
    await shot(page, 'answer');
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `the page fits a phone's width (${overflow}px too wide)`);
    await shot(page, 'answer-phone', false);
    await page.emulateMedia({ media: 'print' });
    const barShown = await page.$eval('.bar', (e) => getComputedStyle(e).display);
    same(barShown, 'none', 'the bar in print');
    await context.close();
  },

  async 'search the list'() {
    const { context, page } = await loggedIn(tokens.reader);
    await page.fill('#q', seed.search);
    await page.press('#q', 'Enter');
    await page.waitForURL(/\?q=/);
    same(await page.$$eval('.list a.q', (l) => l.map((e) => e.textContent)), [seed.question], 'what the search finds');
    await shot(page, 'list');
    await page.fill('#q', 'no-such-words-anywhere');
    await page.press('#q', 'Enter');
    await page.waitForURL(/no-such-words/);
    check((await page.textContent('main')).includes('Nothing matches.'), 'an empty search says so');
    await context.close();
  },

  async 'suggest a question'() {
    const { context, page } = await loggedIn(tokens.reader);
    await page.goto(`${base}/a/${seed.slug}`);
    const question = `Is juvenile myositis contagious? (${seed.nonce})`;
    await page.fill('#question', question);
    await Promise.all([page.waitForURL(/suggested=1/), page.click('#suggest button[type=submit]')]);
    const thanks = await page.textContent('.notice.thanks');
    check(thanks.includes('your question is recorded'), `thanks: ${thanks}`);
    console.log(`suggested ${question}`);
    // Keyboard only: the first tab stop skips to the content.
    await page.goto(`${base}/a/${seed.slug}`);
    await page.keyboard.press('Tab');
    same(await page.evaluate(() => document.activeElement.textContent), 'Skip to content', 'the first tab stop');
    await context.close();
  },

  async 'the history, as an auditor'() {
    const { context, page } = await loggedIn(tokens.auditor);
    await page.goto(`${base}/a/${seed.slug}`);
    await Promise.all([page.waitForURL(/\/history$/), page.click('nav.tabs >> text=History')]);
    const rows = await page.$$eval('table.history tbody tr', (l) => l.map((r) => [...r.cells].map((c) => c.textContent.replace(/\s+/g, ' ').trim())));
    same(rows.length, seed.versions, 'one row a version');
    // Columns: compare, version, recorded, who, why, what, last updated.
    check(rows[0][3].includes(seed.importer), `version 1's actor: ${rows[0][3]}`);
    check(rows[1][3].includes(seed.editor), `version 2's actor: ${rows[1][3]}`);
    check(rows[1][4].includes(seed.edit_reason), `version 2's reason: ${rows[1][4]}`);
    check(rows[1][5].includes('SectionEdited'), `version 2's events: ${rows[1][5]}`);
    check(rows[0][5].includes('AI-assisted'), `the imported version says it is AI-assisted: ${rows[0][5]}`);
    await shot(page, 'history');
    await context.close();
  },

  async 'pick two versions in the history: the diff shows exactly the changed section'() {
    const { context, page } = await loggedIn(tokens.auditor);
    await page.goto(`${base}/a/${seed.slug}/history`);
    await page.check('input[name=from][value="1"]');
    await page.check('input[name=to][value="2"]');
    await Promise.all([page.waitForURL(/\/diff\?from=1&to=2$/), page.click('text=Compare the chosen versions')]);
    same(await page.$$eval('section.change-part h2', (l) => l.map((e) => e.textContent.replace(/\s+/g, ' ').trim())),
      [`Section: ${seed.edited_section} changed`], 'the changed parts');
    same(await page.$$eval('section.change-part del', (l) => l.map((e) => e.textContent)), [seed.removed_word], 'the removed words');
    same(await page.$$eval('section.change-part ins', (l) => l.map((e) => e.textContent)), [seed.added_word], 'the added words');
    const changed = await page.$$eval('tr.change', (l) => l.length);
    same(changed, 1, 'changed rows');
    // The one part that needs a script: jump to the change.
    await page.click('#jump');
    same(await page.evaluate(() => document.activeElement.matches('tr.change')), true, 'the jump focuses the change');
    await labelled(page);
    await shot(page, 'diff');
    await context.close();
  },

  async 'blame names the right actor'() {
    const { context, page } = await loggedIn(tokens.auditor);
    await page.goto(`${base}/a/${seed.slug}/blame`);
    const rows = await page.$$eval('table.blame tbody tr', (l) => l.map((r) => ({
      element: r.dataset.element,
      shows: r.cells[1].textContent.trim(),
      last: r.cells[2].querySelector('.actor').textContent,
      lastVersion: r.cells[2].querySelector('a').textContent,
      first: r.cells[3].querySelector('.actor').textContent,
    })));
    const section = rows.find((r) => r.shows === seed.edited_section);
    check(section && section.element.startsWith('section:'), `a row for the section: ${JSON.stringify(rows)}`);
    same([section.last, section.lastVersion, section.first], [seed.editor, 'v2', seed.importer], 'the section\'s blame');
    const question = rows.find((r) => r.element === 'question');
    same([question.last, question.lastVersion], [seed.importer, 'v1'], 'the question\'s blame');
    await shot(page, 'blame');
    await context.close();
  },

  async 'the freshness report'() {
    const { context, page } = await loggedIn(tokens.auditor);
    await page.click('.bar >> text=Freshness');
    await page.waitForURL(/\/freshness$/);
    const slugs = await page.$$eval('table.freshness tbody tr td:first-child', (l) => l.map((e) => e.textContent.trim()));
    same(slugs, [seed.stale_slug], 'the stale re-dates');
    await shot(page, 'freshness');
    await context.close();
    const reader = await loggedIn(tokens.reader);
    same(await reader.page.$$eval('.bar a[href="/freshness"]', (l) => l.length), 0, 'a reader\'s freshness links');
    same((await reader.page.goto(`${base}/freshness`)).status(), 403, 'a reader\'s freshness');
    await reader.context.close();
  },

  async 'the badge turns green, and red for a tampered receipt or a changed key'() {
    const { context, page } = await loggedIn(tokens.reader);
    await page.goto(`${base}/a/${seed.slug}`);
    await page.waitForSelector('#badge[data-state=verified], #badge[data-state=failed]');
    const verified = await page.textContent('#badge-state');
    check(/✓ Verified at checkpoint \d+ \(0 witnesses\)/.test(verified), `the badge: ${verified}`);
    same(await page.textContent('#pinned-key'), seed.vkey, 'the key pinned on first use');
    same(await page.textContent('#pinned-how'), '(pinned on first use)', 'how it was pinned');
    await shot(page, 'badge', false);

    // A proxy in the browser alters what the server sent.
    const tampered = async (alter) => {
      await page.route('**/receipt?*', async (route) => {
        const response = await route.fetch();
        const body = await response.json();
        alter(body);
        await route.fulfill({ response, json: body });
      });
      await page.reload();
      await page.waitForSelector('#badge[data-state=verified], #badge[data-state=failed]');
      await page.unroute('**/receipt?*');
      return [await page.getAttribute('#badge', 'data-failed'), await page.textContent('#badge-state')];
    };
    let [failed, text] = await tampered((b) => { b.answer.quickAnswer += ' (altered)'; });
    same(failed, 'the inclusion proof', `an altered answer: ${text}`);
    check(text.includes('✗ Not verified: the inclusion proof.'), `the badge names the check: ${text}`);
    await shot(page, 'badge-tampered', false);
    [failed, text] = await tampered((b) => {
      const lines = b.receipt.split('\n');
      const at = lines.findIndex((l) => l.startsWith('\u2014 '));
      const sig = lines[at];
      const i = sig.length - 10;
      lines[at] = sig.slice(0, i) + (sig[i] === 'A' ? 'B' : 'A') + sig.slice(i + 1);
      b.receipt = lines.join('\n');
    });
    same(failed, 'the checkpoint\'s signature', `a forged signature: ${text}`);
    [failed, text] = await tampered((b) => { b.receipt = b.receipt.replace(/^index \d+$/m, 'index 0'); });
    same(failed, 'the receipt\'s index', `another index: ${text}`);
    // A page that shows one answer with the receipt of another: a proxy
    // that alters the page but not the JSON.
    await page.route(`**/a/${seed.slug}`, async (route) => {
      const response = await route.fetch();
      const html = (await response.text()).replace(seed.key_facts[0], 'A fact nobody verified.');
      await route.fulfill({ response, body: html });
    });
    await page.reload();
    await page.waitForSelector('#badge[data-state=verified], #badge[data-state=failed]');
    await page.unroute(`**/a/${seed.slug}`);
    [failed, text] = [await page.getAttribute('#badge', 'data-failed'), await page.textContent('#badge-state')];
    same(failed, 'the page', `a page that is not the verified answer: ${text}`);

    // The server offers another key than the one pinned: red, saying so.
    await page.evaluate(() => localStorage.setItem('answerlog.logKey',
      localStorage.getItem('answerlog.logKey').replace(/\+[0-9a-f]{8}\+/, '+00000000+')));
    await page.reload();
    await page.waitForSelector('#badge[data-state=failed]');
    same(await page.getAttribute('#badge', 'data-failed'), 'the log key', 'a changed key');
    // The person pastes the key their auditor published: green again.
    await page.click('#badge-keys summary');
    await page.fill('#log-key', seed.vkey);
    await page.click('#pin-keys');
    await page.waitForSelector('#badge[data-state=verified]');
    same(await page.textContent('#pinned-how'), '(pasted)', 'how it was pinned');
    // A pinned witness that did not cosign: red, naming the witnesses.
    await page.fill('#witness-keys', witnessKey('witness.example'));
    await page.click('#pin-keys');
    await page.waitForSelector('#badge[data-state=failed]');
    same(await page.getAttribute('#badge', 'data-failed'), 'a witness cosignature', 'an absent cosignature');
    check((await page.textContent('#badge-state')).includes('0 of the 1 pinned witnesses'), 'the count is said');
    // Forgetting the keys pins the server's again on first use.
    await page.click('#forget-keys');
    await page.waitForSelector('#badge[data-state=verified]');
    same(await page.getAttribute('#badge', 'data-failed'), null, 'no failure left from before');
    await labelled(page);
    await context.close();
  },

  async 'a reader gets no history page'() {
    const { context, page } = await loggedIn(tokens.reader);
    const response = await page.goto(`${base}/a/${seed.slug}/history`);
    same(response.status(), 403, 'the status');
    const alert = await page.textContent('[role=alert]');
    check(alert.includes('Your role may not see this page'), `the refusal: ${alert}`);
    await shot(page, 'history-refused');
    await context.close();
  },

  async 'a retracted article: auditors see it, readers get 404'() {
    const auditor = await loggedIn(tokens.auditor);
    const shown = await auditor.page.goto(`${base}/a/${seed.retracted_slug}`);
    same(shown.status(), 200, 'an auditor\'s status');
    const notice = await auditor.page.textContent('.notice.retracted');
    check(notice.includes('Retracted'), `the notice: ${notice}`);
    await shot(auditor.page, 'retracted');
    // Its first version was served then: said so, and that it is retracted now.
    await auditor.page.goto(`${base}/a/${seed.retracted_slug}?version=1`);
    const since = await auditor.page.textContent('.notice.retracted.since');
    check(since.includes('Retracted since'), `an old version says the article is retracted now: ${since}`);
    await auditor.context.close();
    const reader = await loggedIn(tokens.reader);
    const hidden = await reader.page.goto(`${base}/a/${seed.retracted_slug}`);
    same(hidden.status(), 404, 'a reader\'s status');
    const list = await reader.page.goto(`${base}/`);
    same(list.status(), 200, 'the list');
    const questions = await reader.page.$$eval('.list a.q', (l) => l.map((e) => e.textContent));
    check(!questions.includes(seed.retracted_question), 'the list leaves the retracted article out');
    await reader.context.close();
  },
};

let failed = 0;
const only = process.env.ANSWERLOG_ONLY;
for (const [name, run] of Object.entries(scenarios)) {
  if (only && !name.includes(only)) continue;
  try {
    await run();
    console.log(`ok ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAILED ${name}: ${e.stack || e}`);
  }
}
await browser.close();
process.exit(failed ? 1 : 0);
