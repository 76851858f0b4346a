// live.js PROTO: runs a real server and client of a WebSocket subprotocol
// so that their traffic can pass through wsgate. It starts the server on
// 127.0.0.1, prints "PORT n", reads the URL to connect the client to (the
// proxy's, with the path) from its standard input, runs a short exchange
// and exits 0. PROTO: socketio, socketio-polling, graphql-ws,
// graphql-legacy, stomp, mqtt, jsonrpc. The Go test (TestLive) runs it
// with NODE_PATH pointing at the node_modules that holds the libraries;
// README.md lists them.
'use strict'
const http = require('http')
const readline = require('readline')

const proto = process.argv[2]
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function fail (err) {
  console.error(err && err.stack ? err.stack : String(err))
  process.exit(1)
}
process.on('unhandledRejection', fail)
setTimeout(() => fail(new Error('live.js ' + proto + ': timed out')), 20000).unref()

function listen (server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)))
}

function proxyURL () {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin })
    rl.once('line', (line) => { rl.close(); resolve(line.trim()) })
  })
}

async function run (start, client) {
  const port = await start()
  console.log('PORT ' + port)
  await client(await proxyURL())
  process.exit(0)
}

const scenarios = {
  // Socket.IO v4 (Engine.IO 4) on its default path /socket.io/, websocket
  // transport only; a short ping interval so that pings pass.
  socketio: () => {
    const { Server } = require('socket.io')
    const { io } = require('socket.io-client')
    const srv = http.createServer()
    const sio = new Server(srv, { pingInterval: 150, pingTimeout: 1000 })
    const handler = (socket) => {
      socket.on('chat', (msg, ack) => { if (ack) ack({ ok: true, echo: msg }) })
      socket.on('upload', (name, buf, ack) => ack(buf.length))
      socket.emit('welcome', 'hello', 1)
    }
    sio.on('connection', handler)
    sio.of('/admin').use((socket, next) => next(new Error('not authorized')))
    return run(() => listen(srv), async (url) => {
      const sock = io(url, { transports: ['websocket'] })
      await new Promise((resolve) => sock.on('welcome', resolve))
      await sock.emitWithAck('chat', 'hi there')
      await sock.emitWithAck('upload', 'a.bin', Buffer.from([1, 2, 3, 4]))
      sock.emit('typing', { room: 'r1' })
      const admin = io(url + 'admin', { transports: ['websocket'] })
      await new Promise((resolve) => admin.on('connect_error', resolve))
      admin.close()
      await sleep(400) // a ping or two
      sock.close()
      await sleep(100)
    })
  },

  // Socket.IO v4 with the client's default transports: HTTP long polling
  // first (plain requests through wsgate), then the upgrade to websocket.
  // The server holds WebSocket upgrades until the client has done its
  // polling part, so that events, acks both ways and a binary event pass
  // over polling first, then more over the websocket.
  'socketio-polling': () => {
    const { Server } = require('socket.io')
    const { io } = require('socket.io-client')
    const srv = http.createServer()
    const sio = new Server(srv, { pingInterval: 150, pingTimeout: 1000 })
    let release
    const gate = new Promise((resolve) => { release = resolve })
    const upgrade = srv.listeners('upgrade')
    srv.removeAllListeners('upgrade')
    srv.on('upgrade', (req, socket, head) => gate.then(() => upgrade.forEach((l) => l.call(srv, req, socket, head))))
    sio.on('connection', (socket) => {
      socket.on('chat', (msg, ack) => ack({ ok: true, echo: msg }))
      socket.on('upload', (name, buf, ack) => {
        ack(buf.length)
        socket.emit('ask', 'ready?', (answer) => socket.emit('answered', answer))
      })
      socket.emit('welcome', 'hello', 1)
    })
    return run(() => listen(srv), async (url) => {
      const sock = io(url) // transports: polling, then websocket
      const transport = () => sock.io.engine.transport.name
      sock.on('ask', (q, cb) => cb('yes'))
      const answered = new Promise((resolve) => sock.on('answered', resolve))
      await new Promise((resolve) => sock.on('welcome', resolve))
      await sock.emitWithAck('chat', 'over polling')
      await sock.emitWithAck('upload', 'a.bin', Buffer.from([1, 2, 3, 4]))
      await answered
      if (transport() !== 'polling') throw new Error('upgraded before the gate opened: ' + transport())
      const upgraded = new Promise((resolve) => sock.io.engine.once('upgrade', resolve))
      release()
      await upgraded
      if (transport() !== 'websocket') throw new Error('not upgraded: ' + transport())
      await sock.emitWithAck('chat', 'over websocket')
      await sleep(400) // a ping or two
      sock.close()
      await sleep(100)
    })
  },

  // graphql-ws (graphql-transport-ws) with a query, a subscription and an
  // error.
  'graphql-ws': () => {
    const { WebSocketServer } = require('ws')
    const { useServer } = require('graphql-ws/use/ws')
    const { createClient } = require('graphql-ws')
    const WebSocket = require('ws')
    const schema = graphqlSchema()
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/graphql' })
    useServer({ schema }, wss)
    return run(() => new Promise((resolve) => wss.on('listening', () => resolve(wss.address().port))), async (url) => {
      const client = createClient({ url, webSocketImpl: WebSocket, lazy: false })
      await collect(client, { query: 'query Hello { hello }' })
      await collect(client, { query: 'subscription Count($n: Int!) { count(to: $n) }', variables: { n: 2 } })
      await collect(client, { query: '{ nope }' }).catch(() => {})
      await client.dispose()
      await sleep(100)
    })
  },

  // subscriptions-transport-ws, the legacy "graphql-ws" subprotocol.
  'graphql-legacy': () => {
    const { SubscriptionServer, SubscriptionClient } = require('subscriptions-transport-ws')
    const { execute, subscribe } = require('graphql')
    const WebSocket = require('ws')
    const schema = graphqlSchema()
    const srv = http.createServer()
    SubscriptionServer.create({ schema, execute, subscribe, keepAlive: 100 }, { server: srv, path: '/graphql' })
    return run(() => listen(srv), async (url) => {
      const client = new SubscriptionClient(url, { reconnect: false }, WebSocket)
      const once = (req) => new Promise((resolve) => {
        const obs = client.request(req).subscribe({ next: () => {}, error: resolve, complete: resolve })
        void obs
      })
      await once({ query: 'query Hello { hello }', operationName: 'Hello' })
      await once({ query: 'subscription { count(to: 2) }' })
      await sleep(250) // a keep-alive or two
      client.close()
      await sleep(100)
    })
  },

  // STOMP 1.2 with @stomp/stompjs against a tiny broker written here:
  // CONNECT, SUBSCRIBE, SEND with a receipt, MESSAGE, heart-beats, ERROR
  // for an unknown destination, DISCONNECT.
  stomp: () => {
    const { WebSocketServer } = require('ws')
    const { Client } = require('@stomp/stompjs')
    const WebSocket = require('ws')
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (ps) => ps.has('v12.stomp') ? 'v12.stomp' : false })
    wss.on('connection', (ws) => stompBroker(ws))
    return run(() => new Promise((resolve) => wss.on('listening', () => resolve(wss.address().port))), async (url) => {
      const client = new Client({
        webSocketFactory: () => new WebSocket(url, ['v12.stomp', 'v11.stomp', 'v10.stomp']),
        heartbeatIncoming: 100,
        heartbeatOutgoing: 100,
        reconnectDelay: 0,
        connectHeaders: { login: 'guest', passcode: 'guest' }
      })
      const connected = new Promise((resolve) => { client.onConnect = resolve })
      client.activate()
      await connected
      const got = new Promise((resolve) => client.subscribe('/topic/chat', resolve, { ack: 'client' }))
      const receipt = new Promise((resolve) => client.watchForReceipt('r-1', resolve))
      client.publish({ destination: '/topic/chat', body: 'hello stomp', headers: { receipt: 'r-1', 'content-type': 'text/plain' } })
      await receipt
      const msg = await got
      msg.ack()
      await sleep(350) // heart-beats
      const errored = new Promise((resolve) => { client.onStompError = resolve })
      client.publish({ destination: '/nowhere', body: 'x' })
      await errored
      await sleep(100)
      await client.deactivate()
    })
  },

  // MQTT 3.1.1 (mqtt.js against aedes): CONNECT, SUBSCRIBE, PUBLISH at QoS
  // 0, 1 and 2, PINGREQ, UNSUBSCRIBE, DISCONNECT.
  mqtt: () => mqttScenario(4),
  
  // JSON-RPC 2.0 (rpc-websockets): calls, a notification, an error, an
  // event subscription.
  jsonrpc: () => {
    const { Server, Client } = require('rpc-websockets')
    const server = new Server({ port: 0, host: '127.0.0.1' })
    server.register('sum', ([a, b]) => a + b)
    server.register('fail', () => { const e = new Error('nope'); e.code = -32000; throw e })
    server.event('tick')
    return run(() => new Promise((resolve) => server.on('listening', () => resolve(server.wss.address().port))), async (url) => {
      const client = new Client(url, { autoconnect: true, reconnect: false })
      await new Promise((resolve) => client.on('open', resolve))
      await client.call('sum', [2, 3])
      await client.call('fail').catch(() => {})
      await client.notify('log', ['hello'])
      await client.subscribe('tick')
      server.emit('tick', 1)
      await sleep(100)
      await client.call('nosuch').catch(() => {})
      client.close()
      await sleep(100)
    })
  }
}

function graphqlSchema () {
  const { GraphQLSchema, GraphQLObjectType, GraphQLString, GraphQLInt, GraphQLNonNull } = require('graphql')
  return new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { hello: { type: GraphQLString, resolve: () => 'world' } } }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: {
        count: {
          type: GraphQLInt,
          args: { to: { type: new GraphQLNonNull(GraphQLInt) } },
          subscribe: async function * (_, { to }) { for (let i = 1; i <= to; i++) yield { count: i } }
        }
      }
    })
  })
}

function collect (client, payload) {
  return new Promise((resolve, reject) => {
    client.subscribe(payload, { next: () => {}, error: reject, complete: resolve })
  })
}

// stompBroker answers one connection: enough of STOMP 1.2 for the client
// above, one frame per WebSocket message.
function stompBroker (ws) {
  const subs = new Map()
  let seq = 0
  const frame = (cmd, headers, body = '') =>
    cmd + '\n' + Object.entries(headers).map(([k, v]) => k + ':' + v).join('\n') + '\n\n' + body + '\0'
  let beat
  ws.on('close', () => clearInterval(beat))
  ws.on('message', (data) => {
    const text = data.toString()
    if (/^\r?\n$/.test(text)) return // heart-beat
    const [head, ...rest] = text.split('\n\n')
    const body = rest.join('\n\n').replace(/\0$/, '')
    const [cmd, ...lines] = head.split('\n')
    const h = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]))
    switch (cmd) {
      case 'CONNECT':
      case 'STOMP':
        ws.send(frame('CONNECTED', { version: '1.2', 'heart-beat': '100,100', server: 'live.js/1' }))
        beat = setInterval(() => ws.send('\n'), 100)
        break
      case 'SUBSCRIBE':
        subs.set(h.destination, h.id)
        break
      case 'SEND':
        if (!subs.has(h.destination)) {
          ws.send(frame('ERROR', { message: 'no such destination', 'content-type': 'text/plain' }, 'destination ' + h.destination + ' is unknown'))
          return
        }
        ws.send(frame('MESSAGE', { subscription: subs.get(h.destination), 'message-id': 'm-' + ++seq, ack: 'a-' + seq, destination: h.destination, 'content-type': h['content-type'] || 'text/plain' }, body))
        if (h.receipt) ws.send(frame('RECEIPT', { 'receipt-id': h.receipt }))
        break
      case 'DISCONNECT':
        if (h.receipt) ws.send(frame('RECEIPT', { 'receipt-id': h.receipt }))
        break
    }
  })
}

function mqttScenario (version) {
  const { Aedes } = require('aedes')
  const { WebSocketServer, createWebSocketStream } = require('ws')
  const mqtt = require('mqtt')
  return run(async () => {
    const broker = await Aedes.createBroker()
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (ps) => ps.has('mqtt') ? 'mqtt' : false })
    wss.on('connection', (ws) => broker.handle(createWebSocketStream(ws)))
    await new Promise((resolve) => wss.on('listening', resolve))
    return wss.address().port
  }, async (url) => {
    const client = mqtt.connect(url.replace(/^http/, 'ws'), { clientId: 'live-' + version, protocolVersion: version, keepalive: 1, reconnectPeriod: 0, username: 'alice', password: 'secret' })
    await new Promise((resolve, reject) => { client.on('connect', resolve); client.on('error', reject) })
    await client.subscribeAsync({ 'sensors/+/temp': { qos: 1 }, 'alerts/#': { qos: 2 } })
    const got = new Promise((resolve) => { let n = 0; client.on('message', () => { if (++n === 3) resolve() }) })
    await client.publishAsync('sensors/kitchen/temp', '21.5', { qos: 0 })
    await client.publishAsync('sensors/hall/temp', '19.0', { qos: 1 })
    await client.publishAsync('alerts/door', 'open', { qos: 2, retain: false })
    await got
    await sleep(1200) // a PINGREQ (keepalive 1 s)
    await client.unsubscribeAsync('alerts/#')
    await client.endAsync()
    await sleep(100)
  })
}

const scenario = scenarios[proto]
if (!scenario) fail(new Error('live.js: unknown protocol ' + proto + '; one of ' + Object.keys(scenarios).join(', ')))
scenario()
