// ws_deflate.js: Node's ws library with permessage-deflate, for
// TestTraceInflatesNodeWS. "server" prints its port and echoes every
// message ("echo " + message), compressed; "client URL N" sends N JSON
// messages compressed with context takeover and prints each echo.
const WebSocket = require('ws');
const deflate = { threshold: 0, serverNoContextTakeover: false, clientNoContextTakeover: false };
if (process.argv[2] === 'server') {
  const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0, perMessageDeflate: deflate }, () => {
    console.log(wss.address().port);
  });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(isBinary ? data : 'echo ' + data.toString())));
} else {
  const ws = new WebSocket(process.argv[3], { perMessageDeflate: deflate });
  const n = Number(process.argv[4]);
  let i = 0;
  const next = () => ws.send(JSON.stringify({ seq: i, user: 'user' + (i % 3), text: 'hello '.repeat(1 + i * 7) }));
  ws.on('open', next);
  ws.on('message', (data) => {
    console.log(data.toString());
    if (++i < n) next(); else ws.close(1000);
  });
  ws.on('close', () => process.exit(0));
}
