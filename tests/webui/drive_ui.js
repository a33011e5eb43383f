// Drives `chatedit ui` in Debian's chromium as a person would: open a photo, click on a spot, ask for an
// edit there, undo, reload the page.
//
//   NODE_PATH=~/.cache/chatedit-webui/node/node_modules node drive_ui.js URL PHOTO OUT_DIR "INSTRUCTION"
//
// Saves the picture the page shows at each stage as OUT_DIR/ui-*.png (the files the browser was served)
// and screenshots; prints one JSON object on stdout: where it clicked, in the picture's pixels, and the
// chat's last answer at each stage. Exits 1 on failure, after a screenshot (OUT_DIR/failure.png).
const fs = require('fs');
const path = require('path');
const { log, run } = require('./common');

const [url, photo, outDir, instruction] = process.argv.slice(2);
const TURN_TIMEOUT_MS = 240_000;
const CLICK_AT = { x: 0.3, y: 0.6 };

// Gives back the src of the picture the page shows, once it is a new one (not `previous`).
async function shownPicture(page, previous) {
  const handle = await page.waitForFunction(
    (before) => {
      const img = document.querySelector('#picture img');
      return img && img.complete && img.naturalWidth > 0 && img.src !== before ? img.src : null;
    },
    previous,
    { polling: 100 },
  );
  return handle.jsonValue();
}

// Saves the picture at `src` (as the browser was served it) to OUT_DIR/NAME.
async function savePicture(page, src, name) {
  const bytes = await page.evaluate(async (source) => {
    const reply = await fetch(source);
    return Array.from(new Uint8Array(await reply.arrayBuffer()));
  }, src);
  fs.writeFileSync(path.join(outDir, name), Buffer.from(bytes));
}

// Waits until the chat's last message says `text`, and gives back the chat's text.
async function chatSays(page, text, timeout = 60_000) {
  await page.waitForFunction(
    (expected) => {
      const chat = document.querySelector('#chat');
      return chat && chat.innerText.includes(expected);
    },
    text,
    { timeout, polling: 250 },
  );
  return page.locator('#chat').innerText();
}

async function versions(page) {
  return page.locator('#versions .thumbnail-item').count();
}

run(outDir, async (page) => {
  const result = {};
  // Wide and short: the screenshot shows the picture, the versions and the chat side by side.
  await page.setViewportSize({ width: 1360, height: 900 });
  await page.goto(url, { waitUntil: 'load' });
  await page.getByRole('button', { name: 'Open a picture' }).waitFor();

  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Open a picture' }).click();
  await (await chooser).setFiles(photo);
  let src = await shownPicture(page, null);
  await savePicture(page, src, 'ui-1-opened.png');
  await chatSays(page, 'What should I change?');
  log('photo opened');

  // A click on the picture: Gradio maps it to the picture's own pixels. The <img> shows the picture
  // centred in its box, shrunk to fit but never enlarged (object-fit: scale-down), so the picture's
  // top-left corner and scale are worked out first.
  const img = page.locator('#picture img');
  const box = await img.boundingBox();
  const natural = await img.evaluate((e) => ({ width: e.naturalWidth, height: e.naturalHeight }));
  const scale = Math.min(box.width / natural.width, box.height / natural.height, 1);
  const left = box.x + (box.width - natural.width * scale) / 2;
  const top = box.y + (box.height - natural.height * scale) / 2;
  result.click = { x: Math.round(natural.width * CLICK_AT.x), y: Math.round(natural.height * CLICK_AT.y) };
  await page.mouse.click(left + (result.click.x + 0.5) * scale, top + (result.click.y + 0.5) * scale);
  src = await shownPicture(page, src);
  await savePicture(page, src, 'ui-2-marked.png');
  log(`clicked at ${JSON.stringify(result.click)}`);

  await page.locator('#instruction textarea').fill(instruction);
  await page.locator('#instruction textarea').press('Enter');
  result.edited = await chatSays(page, 'Done: ', TURN_TIMEOUT_MS);
  await page.waitForFunction(() => document.querySelectorAll('#versions .thumbnail-item').length === 2);
  src = await shownPicture(page, src);
  await savePicture(page, src, 'ui-3-edited.png');
  result.versions = await versions(page);
  await page.screenshot({ path: path.join(outDir, 'ui-edited.png') });
  log('edited');

  await page.getByRole('button', { name: 'Undo', exact: true }).click();
  result.undone = await chatSays(page, `Undid "${instruction}"`);
  src = await shownPicture(page, src);
  await savePicture(page, src, 'ui-4-undone.png');
  log('undone');

  // The browser keeps the session's id: a reload shows the same session, at the version undo left.
  await page.reload({ waitUntil: 'load' });
  src = await shownPicture(page, null);
  await savePicture(page, src, 'ui-5-reloaded.png');
  result.reloaded = await chatSays(page, `Undid "${instruction}"`);
  result.reloadedVersions = await versions(page);
  log('reloaded');
  return result;
});
