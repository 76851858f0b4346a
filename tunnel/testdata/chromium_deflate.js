// chromium_deflate.js URL: for TestTraceInflatesChromium. Opens URL, a
// page served by the test, in headless Chromium (launched as
// internal/chromiumtest says); the page talks WebSocket through wsgate
// and, when its socket has closed, sets window.result, which this prints
// as JSON. Page errors and console lines go to stderr.
'use strict'
const { chromium } = require('playwright-core')

async function main (url) {
  const browser = await chromium.launchPersistentContext(process.env.WSGATE_CHROMIUM_PROFILE, {
    executablePath: process.env.WSGATE_CHROMIUM,
    args: JSON.parse(process.env.WSGATE_CHROMIUM_FLAGS),
    headless: true
  })
  try {
    const page = await browser.newPage()
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`))
    page.on('console', (m) => console.error(`console: ${m.text()}`))
    await page.goto(url)
    const result = await page.waitForFunction(() => window.result, null, { timeout: 60000 })
    console.log(JSON.stringify(await result.jsonValue()))
  } finally {
    await browser.close()
  }
}

main(process.argv[2]).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
