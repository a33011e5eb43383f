// Drives Open WebUI in Debian's chromium as a person would: attach a photo, ask for an edit, ask a follow-up.
//
//   NODE_PATH=~/.cache/chatedit-webui/node/node_modules node drive.js URL PHOTO OUT_DIR "EDIT" "FOLLOW_UP"
//
// Prints one JSON object on stdout: for each answer, the natural size of the picture it shows and the
// seconds until it rendered; the page title (the chat's title) and the chat tags Open WebUI stored.
// Screenshots go to OUT_DIR. Exits 1 on failure, after a screenshot of the page (OUT_DIR/failure.png).
const path = require('path');
const { attachPhoto, log, run, send } = require('./common');

const [url, photo, outDir, ...instructions] = process.argv.slice(2);
const TURN_TIMEOUT_MS = 240_000;

// Runs in the page: gives back the `count`-th answer once it shows a loaded picture, or once it is
// complete without one (its follow-up suggestions are there); null before.
function answerState(count) {
  const answers = document.querySelectorAll('#response-content-container');
  if (answers.length < count) return null;
  const answer = answers[count - 1];
  // chatedit sends its picture inline (a data URL) or, with CHATEDIT_IMAGE_LINKS=url, as a link to its store.
  const image = [...answer.querySelectorAll('img')].find((img) => /^data:image\/|\/v1\/images\//.test(img.src));
  if (image && image.complete && image.naturalWidth > 0) {
    return { naturalWidth: image.naturalWidth, naturalHeight: image.naturalHeight };
  }
  // Open WebUI shows follow-up suggestions under the last answer only, after it is complete.
  const complete =
    answers.length === count && [...document.querySelectorAll('div')].some((e) => e.textContent === 'Follow up');
  return complete ? { text: answer.innerText.slice(0, 500) } : null;
}

// Runs in the page: gives back the names of the chat tags Open WebUI stored, null while there are none.
async function chatTags() {
  const reply = await fetch('/api/v1/chats/all/tags', { headers: { Authorization: `Bearer ${localStorage.token}` } });
  const tags = reply.ok ? await reply.json() : [];
  return tags.length ? tags.map((tag) => tag.name) : null;
}

run(outDir, async (page) => {
  const result = { answers: [] };
  await attachPhoto(page, url, photo);
  await page.screenshot({ path: path.join(outDir, '01-attached.png') });

  for (const [index, text] of instructions.entries()) {
    const started = Date.now();
    await send(page, text);
    log(`sent "${text}"`);
    const state = await page.waitForFunction(answerState, index + 1, { timeout: TURN_TIMEOUT_MS, polling: 250 });
    const answer = await state.jsonValue();
    const seconds = (Date.now() - started) / 1000;
    if (answer.text !== undefined) throw new Error(`answer ${index + 1} shows no picture: ${answer.text}`);
    result.answers.push({ instruction: text, seconds, ...answer });
    log(`answer ${index + 1} rendered after ${seconds.toFixed(1)} s: ${JSON.stringify(answer)}`);
    // Open WebUI's own requests after an answer (title, tags, follow-ups) are done once the follow-up
    // suggestions show and the stop button is gone.
    await page.getByText('Follow up', { exact: true }).waitFor();
    await page.locator('button[aria-label="Stop"]').waitFor({ state: 'detached' });
    // The first answer is shown with the photo above it; later ones at the bottom of the chat.
    await page
      .locator('#messages-container')
      .evaluate((chat, first) => chat.scrollTo(0, first ? 0 : chat.scrollHeight), index === 0);
    await page.screenshot({ path: path.join(outDir, `0${index + 2}-answer.png`) });
  }
  result.title = await page.title();
  const tags = await page.waitForFunction(chatTags, null, { polling: 500 });
  result.tags = await tags.jsonValue();
  return result;
});
