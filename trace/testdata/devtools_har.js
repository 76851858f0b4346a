// devtools_har.js FILE.har: for TestHARDevTools. Opens Chromium's own
// DevTools frontend (devtools://devtools/bundled/devtools_app.html, as the
// browser ships it) in headless Chromium, launched as internal/chromiumtest
// says, and imports FILE.har the way a user does: the Network tab, its
// "Import HAR file" button, the file chooser. Then it prints, as JSON,
// what DevTools made of it: each request of the network log (the model
// the panel shows) with its WebSocket frames, and for each WebSocket the
// rows of its Messages tab as the panel rendered them. Errors DevTools
// logs (a HAR it fails to load) go to stderr and fail the script.
'use strict'
const { chromium } = require('playwright-core')

async function main (file) {
  const browser = await chromium.launchPersistentContext(process.env.WSGATE_CHROMIUM_PROFILE, {
    executablePath: process.env.WSGATE_CHROMIUM,
    args: JSON.parse(process.env.WSGATE_CHROMIUM_FLAGS),
    headless: true,
    viewport: { width: 1280, height: 2000 } // every Messages row on screen
  })
  try {
    const page = await browser.newPage()
    const errors = []
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`))
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`) })
    await page.goto('devtools://devtools/bundled/devtools_app.html')
    await page.getByRole('tab', { name: 'Network' }).click()
    const chooser = page.waitForEvent('filechooser')
    await page.getByRole('button', { name: /^Import HAR file/ }).click()
    await (await chooser).setFiles(file)

    const har = JSON.parse(require('fs').readFileSync(file, 'utf8'))
    const rows = page.locator('td.name-column')
    await rows.nth(har.log.entries.length - 1).waitFor({ timeout: 10000 })

    const requests = await page.evaluate(async () => {
      const Logs = await import('./models/logs/logs.js')
      return Logs.NetworkLog.NetworkLog.instance().requests().map((r) => ({
        name: r.name(),
        url: r.url(),
        resourceType: r.resourceType().name(),
        status: r.statusCode,
        extensions: r.responseHeaderValue('Sec-WebSocket-Extensions') ?? '',
        frames: r.frames().map((f) => ({ type: f.type, opcode: f.opCode, text: f.text, time: f.time }))
      }))
    })
    for (const r of requests) {
      if (r.resourceType !== 'websocket') continue
      // A row's text is its name; a hidden subtitle (the host) follows.
      const names = await rows.evaluateAll((tds) => tds.map((td) => td.innerText.trim()))
      if (names.indexOf(r.name) !== names.lastIndexOf(r.name)) throw new Error(`two rows named ${r.name}`)
      await rows.nth(names.indexOf(r.name)).click()
      await page.getByRole('tab', { name: 'Messages' }).click()
      const grid = page.locator('.resource-chunk-view tr.data-grid-data-grid-node')
      if (r.frames.length > 0) await grid.nth(r.frames.length - 1).waitFor()
      r.rows = await grid.evaluateAll((trs) => trs.map((tr) => ({
        send: tr.classList.contains('resource-chunk-view-row-send'),
        receive: tr.classList.contains('resource-chunk-view-row-receive'),
        data: tr.querySelector('td.data-column')?.textContent ?? null,
        length: tr.querySelector('td.length-column')?.textContent ?? null
      })))
    }
    if (errors.length > 0) throw new Error(errors.join('\n'))
    console.log(JSON.stringify(requests))
  } finally {
    await browser.close()
  }
}

main(process.argv[2]).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
