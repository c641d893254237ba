/** Headless Chromium (Debian's package) driven by playwright-core; no browser download, no network. */
import * as fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export function chromiumPath(): string | undefined {
  return [process.env.SIAMFACE_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p): p is string => !!p && fs.existsSync(p));
}

export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('no Chromium found (infra/setup-browser.sh installs one; or set SIAMFACE_CHROMIUM)');
  return chromium.launch({
    executablePath,
    headless: true,
    // This machine has no internet: background networking would only produce refused connections.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
