// Drives Open WebUI's own image editing in Debian's chromium: another model chats, chatedit edits.
//
//   NODE_PATH=~/.cache/chatedit-webui/node/node_modules node drive_edit.js URL PHOTO OUT_DIR "EDIT" "FOLLOW_UP"
//
// Attaches a photo, turns on Image in the integrations menu, and sends each instruction; Open WebUI
// then posts the chat's latest images to its image-edit engine (chatedit's /v1/images/edits) and shows
// the picture it gets back. Prints one JSON object on stdout: for each answer, the natural size of its
// picture and the seconds until it rendered. Screenshots go to OUT_DIR; on failure OUT_DIR/failure.png.
const path = require('path');
const { attachPhoto, log, run, send } = require('./common');

const [url, photo, outDir, ...instructions] = process.argv.slice(2);
const TURN_TIMEOUT_MS = 240_000;

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

run(outDir, async (page) => {
  const result = { answers: [] };
  await attachPhoto(page, url, photo);

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
  return result;
});
