// Drives Open WebUI's own image editing in Debian's chromium: another model chats, chatedit edits.
//
//   NODE_PATH=~/.cache/chatedit-webui/node/node_modules node drive_edit.js URL PHOTO OUT_DIR "EDIT" "FOLLOW_UP"
//
// Attaches a photo, turns on Image in the integrations menu, and sends each instruction; Open WebUI
// then posts the chat's latest images to its image-edit engine (chatedit's /v1/images/edits) and shows
// the picture it gets back. Prints one JSON object on stdout: for each answer, the natural size of its
// picture and the seconds until it rendered. Screenshots go to OUT_DIR; on failure OUT_DIR/failure.png.
const path = require('path');
const { chromium } = require('playwright-core');

const [url, photo, outDir, ...instructions] = process.argv.slice(2);
const TURN_TIMEOUT_MS = 240_000;
const UI_TIMEOUT_MS = 30_000;

function log(line) {
  process.stderr.write(`drive: ${line}\n`);
}

// Runs in the page: gives back the natural size of the `count`-th picture Open WebUI shows from its
// files API after the attached photo, once it has loaded; null before.
function pictureState(count) {
  const pictures = [...document.querySelectorAll('#messages-container img')].filter(
    (img) => /\/api\/v1\/files\//.test(img.src) && img.complete && img.naturalWidth > 0,
  );
  const sources = [...new Set(pictures.map((img) => img.src))];
  if (sources.length < count + 1) return null;
  const picture = pictures.find((img) => img.src === sources[count]);
  return { naturalWidth: picture.naturalWidth, naturalHeight: picture.naturalHeight };
}

async function imageSwitchOn(page) {
  await page.locator('#integration-menu-button').click();
  const item = page.getByRole('menuitemcheckbox', { name: 'Image' });
  if ((await item.getAttribute('aria-checked')) !== 'true') await item.click();
  await page.keyboard.press('Escape');
}

async function send(page, text) {
  const input = page.locator('#chat-input');
  await input.click();
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--no-first-run'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  page.on('pageerror', (error) => log(`page error: ${String(error).slice(0, 300)}`));
  const result = { answers: [] };
  try {
    await page.goto(url, { waitUntil: 'load' });
    const welcome = page.getByRole('button', { name: "Okay, Let's Go!" });
    if (await welcome.waitFor({ timeout: 10_000 }).then(() => true, () => false)) {
      await welcome.click();
      await welcome.waitFor({ state: 'detached' });
    }
    await page.locator('#chat-input').waitFor();
    await page.locator('#input-menu-button').click();
    const chooser = page.waitForEvent('filechooser');
    await page.getByText('Upload Files', { exact: true }).click();
    await (await chooser).setFiles(photo);
    await page.locator('img[data-cy="image"][src*="/api/v1/files/"]').waitFor();

    for (const [index, text] of instructions.entries()) {
      const started = Date.now();
      await imageSwitchOn(page);
      await send(page, text);
      log(`sent "${text}" with Image on`);
      const state = await page.waitForFunction(pictureState, index + 1, { timeout: TURN_TIMEOUT_MS, polling: 250 });
      const answer = await state.jsonValue();
      const seconds = (Date.now() - started) / 1000;
      result.answers.push({ instruction: text, seconds, ...answer });
      log(`picture ${index + 1} rendered after ${seconds.toFixed(1)} s: ${JSON.stringify(answer)}`);
      await page.locator('button[aria-label="Stop"]').waitFor({ state: 'detached', timeout: TURN_TIMEOUT_MS });
      await page.locator('#messages-container').evaluate((chat) => chat.scrollTo(0, chat.scrollHeight));
      await page.screenshot({ path: path.join(outDir, `edit-0${index + 1}.png`) });
    }
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
