// Drives vicadmin in Debian's headless Chromium as an admin would: log in (a wrong password first),
// find a container in the list, read its output, watch the endpoint log, download the log bundle.
// Screenshots go to OUT_DIR for the calling test to look at; a failed step exits non-zero and says which.
import { chromium } from 'playwright-core';
import path from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) { console.error(`vicadmin.mjs: ${name} is not set`); process.exit(2); }
  return value;
};
const url = env('VICADMIN_URL');
const user = env('VICADMIN_USER');
const password = env('VICADMIN_PASSWORD');
const containerName = env('CONTAINER_NAME');
const expectedOutput = env('EXPECT_OUTPUT');
const outDir = env('OUT_DIR');
const timeout = 60_000;

let step = 'launching chromium';
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
const result = { steps: [] };
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1280, height: 1000 }, deviceScaleFactor: 2 });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);

  step = 'opening vicadmin without a login';
  await page.goto(url);
  if (!page.url().endsWith('/login')) throw new Error(`expected the login form, got ${page.url()}`);
  await page.screenshot({ path: path.join(outDir, 'login.png') });
  result.steps.push('login form');

  step = 'logging in with a wrong password';
  await page.fill('#user', user);
  await page.fill('#password', 'not-the-password');
  await page.click('#login');
  await page.waitForSelector('.error');
  result.refusal = (await page.textContent('.error')).trim();

  step = 'logging in';
  await page.fill('#user', user);
  await page.fill('#password', password);
  await page.click('#login');
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
  result.steps.push('logged in');

  step = `finding ${containerName} in the ContainerVM list`;
  const row = page.locator(`#containers tbody tr[data-name="${containerName}"]`);
  await row.waitFor();
  await page.waitForFunction(() => document.querySelector('#usage-chart polyline') !== null);
  result.row = (await row.innerText()).replace(/\s+/g, ' ').trim();
  result.header = (await page.textContent('#vch-line')).trim();
  await page.screenshot({ path: path.join(outDir, 'containers.png'), fullPage: true });

  step = `reading ${containerName}'s output`;
  await row.click();
  await page.waitForFunction((text) => document.querySelector('#output-text').textContent.includes(text), expectedOutput);
  result.output = await page.textContent('#output-text');
  await page.locator('#output').screenshot({ path: path.join(outDir, 'output.png') });

  step = 'watching the endpoint log';
  await page.waitForFunction(() => document.querySelector('#endpoint-log').textContent.includes('logged in'));
  result.endpointLogLines = (await page.textContent('#endpoint-log')).split('\n').filter((l) => l).length;

  step = 'downloading the log bundle';
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#bundle')]);
  result.bundleName = download.suggestedFilename();
  await download.saveAs(path.join(outDir, 'bundle.zip'));

  step = 'logging out';
  await page.click('header form button');
  await page.waitForURL((u) => u.pathname.startsWith('/login'));
  const after = await page.request.get(new URL('/api/containers', url).toString());
  result.afterLogout = after.status();

  console.log(JSON.stringify(result));
} catch (error) {
  console.error(`vicadmin.mjs: failed while ${step}: ${error.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
