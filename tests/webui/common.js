// What both Open WebUI drivers share: Debian's chromium, the first screen, the attached photo, a sent line,
// and how a run ends (its JSON result on stdout, or OUT_DIR/failure.png and exit status 1).
const path = require('path');
const { chromium } = require('playwright-core');

const UI_TIMEOUT_MS = 30_000;

function log(line) {
  process.stderr.write(`drive: ${line}\n`);
}

async function send(page, text) {
  const input = page.locator('#chat-input');
  await input.click();
  // #chat-input is a contenteditable editor: it takes key presses, not fill().
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

// Opens Open WebUI at `url`, past its welcome dialog, and attaches `photo` to the chat input.
async function attachPhoto(page, url, photo) {
  // socket.io keeps a connection open, so the network never idles: wait for `load` only.
  await page.goto(url, { waitUntil: 'load' });
  // A fresh Open WebUI greets a new user with a dialog over the chat; it shows once per user.
  const welcome = page.getByRole('button', { name: "Okay, Let's Go!" });
  const greeted = await welcome.waitFor({ timeout: 10_000 }).then(() => true, () => false);
  if (greeted) {
    await welcome.click();
    await welcome.waitFor({ state: 'detached' });
  }
  await page.locator('#chat-input').waitFor();

  await page.locator('#input-menu-button').click();
  const chooser = page.waitForEvent('filechooser');
  await page.getByText('Upload Files', { exact: true }).click();
  await (await chooser).setFiles(photo);
  // Once uploaded, the photo shows above the input as a thumbnail served by Open WebUI's files API.
  await page.locator('img[data-cy="image"][src*="/api/v1/files/"]').waitFor();
}

// Runs `drive(page)` on a fresh chromium page and prints the object it gives back as one JSON line on
// stdout; when it fails, leaves a screenshot in OUT_DIR/failure.png, logs the error and exits 1.
function run(outDir, drive) {
  async function main() {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    // Tall enough to show the attached photo, the progress lines and the answer's picture at once.
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on('pageerror', (error) => log(`page error: ${String(error).slice(0, 300)}`));
    let result;
    try {
      result = await drive(page);
    } catch (error) {
      await page.screenshot({ path: path.join(outDir, 'failure.png') }).catch(() => {});
      throw error;
    } finally {
      await browser.close();
    }
    process.stdout.write(JSON.stringify(result) + '\n');
  }

  main().catch((error) => {
    log(String(error && error.stack ? error.stack : error));
    process.exit(1);
  });
}

module.exports = { attachPhoto, log, run, send };
