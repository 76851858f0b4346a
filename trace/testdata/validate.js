// validate.js FILE.har...: checks HTTP Archives against the HAR 1.2 JSON
// schema with npm's har-validator, and the WebSocket entries against the
// shape Chrome's devtools export and import (_webSocketMessages). Prints
// the errors and exits 1 when a file fails. The Go test runs it with
// NODE_PATH pointing at the node_modules that holds har-validator.
'use strict'
const fs = require('fs')
const validator = require('har-validator')

function chromeErrors (har) {
  const errs = []
  har.log.entries.forEach((e, i) => {
    if (e._resourceType !== 'websocket') return
    const msgs = e._webSocketMessages
    if (!Array.isArray(msgs)) {
      errs.push(`entries[${i}]._webSocketMessages is not an array`)
      return
    }
    msgs.forEach((m, j) => {
      const at = `entries[${i}]._webSocketMessages[${j}]`
      if (m.type !== 'send' && m.type !== 'receive') errs.push(`${at}.type = ${JSON.stringify(m.type)}`)
      if (typeof m.time !== 'number' || !(m.time > 0)) errs.push(`${at}.time = ${JSON.stringify(m.time)}`)
      if (!Number.isInteger(m.opcode) || m.opcode < 0 || m.opcode > 15) errs.push(`${at}.opcode = ${JSON.stringify(m.opcode)}`)
      if (typeof m.data !== 'string') errs.push(`${at}.data is not a string`)
    })
  })
  return errs
}

async function main (files) {
  let failed = false
  for (const file of files) {
    let har
    try {
      har = JSON.parse(fs.readFileSync(file, 'utf8'))
      await validator.har(har)
    } catch (err) {
      failed = true
      console.error(`${file}: ${err.message}`)
      for (const e of err.errors || []) console.error(`  ${e.dataPath || e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`)
      continue
    }
    const errs = chromeErrors(har)
    if (errs.length > 0) {
      failed = true
      for (const e of errs) console.error(`${file}: ${e}`)
      continue
    }
    console.log(`${file}: valid HAR ${har.log.version}, ${har.log.entries.length} entries`)
  }
  process.exitCode = failed ? 1 : 0 // not process.exit: it may cut the output short
}

main(process.argv.slice(2))
