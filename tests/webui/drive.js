// Drives Open WebUI in Debian's chromium as a person would: attach a photo, ask for an edit, ask a follow-up.
//
//   NODE_PATH=~/.cache/chatedit-webui/node/node_modules node drive.js URL PHOTO OUT_DIR "EDIT" "FOLLOW_UP"
//
// Prints one JSON object on stdout: for each answer, the natural size of the image it shows and how
// long it took to render; the chat title in the sidebar. Screenshots go to OUT_DIR. Exits 1 on failure,
// after a screenshot of the page as it was (OUT_DIR/failure.png).
const path = require('path');
const { chromium } = require('playwright-core');

const [url, photo, outDir, ...instructions] = process.argv.slice(2);
const TURN_TIMEOUT_MS = 240_000;
const UI_TIMEOUT_MS = 30_000;

function log(line) {
  process.stderr.write(`drive: ${line}\n`);
}

// Runs in the page: gives back the natural sizes of the images in assistant answers once the
// `count`-th has loaded, null before.
function answerImages(count) {
  const images = [...document.querySelectorAll('#response-content-container img')].filter((img) =>
    img.getAttribute('src')?.startsWith('data:image/'),
  );
  if (images.length < count) return null;
  const image = images[count - 1];
  if (!image.complete || image.naturalWidth === 0) return null;
  return images.map((img) => ({ naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight }));
}

// Runs in the page: gives back the names of the chat tags Open WebUI stored, null while there are none.
async function chatTags() {
  const reply = await fetch('/api/v1/chats/all/tags', { headers: { Authorization: `Bearer ${localStorage.token}` } });
  const tags = reply.ok ? await reply.json() : [];
  return tags.length ? tags.map((tag) => tag.name) : null;
}

async function send(page, text) {
  const input = page.locator('#chat-input');
  await input.click();
  // #chat-input is a contenteditable editor: it takes key presses, not fill().
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

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
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  page.on('pageerror', (error) => log(`page error: ${String(error).slice(0, 300)}`));
  const result = { answers: [] };
  try {
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
    // The attachment shows as a thumbnail of the photo above the input once uploaded.
    await page.locator(`img[alt="${path.basename(photo)}"], img[src^="data:image/"], img[src*="/api/v1/files/"]`).first().waitFor();
    await page.screenshot({ path: path.join(outDir, '01-attached.png') });

    for (const [index, text] of instructions.entries()) {
      const started = Date.now();
      await send(page, text);
      log(`sent "${text}"`);
      const images = await page.waitForFunction(answerImages, index + 1, { timeout: TURN_TIMEOUT_MS, polling: 250 });
      const seconds = (Date.now() - started) / 1000;
      const sizes = await images.jsonValue();
      result.answers.push({ instruction: text, seconds, ...sizes[index] });
      log(`answer ${index + 1} rendered after ${seconds.toFixed(1)} s: ${JSON.stringify(sizes[index])}`);
      // Follow-up suggestions come last, from their own request once the answer is complete.
      await page.getByText('Follow up', { exact: true }).waitFor({ timeout: TURN_TIMEOUT_MS });
      await page.evaluate(() => document.querySelector('#messages-container')?.scrollTo(0, 0));
      await page.screenshot({ path: path.join(outDir, `0${index + 2}-answer.png`) });
    }
    result.title = await page.title();
    result.tags = await page.waitForFunction(chatTags, null, { timeout: UI_TIMEOUT_MS, polling: 500 }).then((h) => h.jsonValue());
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
