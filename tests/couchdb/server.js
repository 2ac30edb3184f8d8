'use strict';
// A CouchDB-compatible server for the store conformance tests: express-pouchdb on LevelDB, with the fixes the
// CouchDB backend needs to see Apache CouchDB 3.x behaviour (production targets CouchDB 3; this is a stand-in).
//
//   node server.js --port 0 --dir /tmp/data --parent-pid 1234
//
// Fixes over plain express-pouchdb:
//   1. no response compression (it buffers live _changes) and no Fauxton;
//   2. longpoll and continuous _changes honour `timeout` (close with a `last_seq` line) and `heartbeat`,
//      and `feed=continuous&timeout=0` sends what is there and closes;
//   3. `GET /` and `GET /{db}` have CouchDB 3's shape (`update_seq` a string, `sizes`, `cluster`...), a missing
//      database is `404 Database does not exist.`, deleting a missing one is a 404, names are checked with
//      CouchDB's rule (400 illegal_database_name), and names holding `/` (Kazoo's `account/xx/yy/...`) are
//      kept whole (express-pouchdb would strip the slashes);
//   4. an unhandled promise rejection (an unknown _changes filter, say) is logged instead of ending the process.
// Left as they are: integer sequence numbers, no `_selector` changes filter, no authentication.

const path = require('path');
const fs = require('fs');
const express = require('express');
const expressPouchDB = require('express-pouchdb');
const { getOrCreateDB } = require('express-pouchdb/lib/create-or-delete-dbs');
const PouchDB = require('pouchdb-core')
  .plugin(require('pouchdb-adapter-leveldb'))
  .plugin(require('pouchdb-adapter-http'))
  .plugin(require('pouchdb-replication'))
  .plugin(require('pouchdb-mapreduce'));

function parseArgs(argv) {
  const args = { port: 5984, dir: null, parentPid: null };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--port': args.port = Number(value); i++; break;
      case '--dir': args.dir = value; i++; break;
      case '--parent-pid': args.parentPid = Number(value); i++; break;
      default:
        console.error(`unknown argument ${argv[i]}`);
        console.error('usage: node server.js [--port N] [--dir DIR] [--parent-pid PID]');
        process.exit(2);
    }
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    console.error('--port must be an integer from 0 to 65535');
    process.exit(2);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const dataDir = path.resolve(args.dir || path.join(process.cwd(), 'couchdb-data'));
fs.mkdirSync(dataDir, { recursive: true });

// Fix 4: express-pouchdb lets some rejections escape (an unknown _changes filter): log them, keep serving.
process.on('unhandledRejection', (reason) => {
  console.error('unhandled rejection:', reason && reason.stack ? reason.stack : reason);
});

// Leave with the process that started us, so a crashed test run never leaves a server behind.
if (args.parentPid) {
  setInterval(() => {
    try {
      process.kill(args.parentPid, 0);
    } catch (e) {
      if (e.code !== 'EPERM') process.exit(0);
    }
  }, 1000).unref();
}

const DB = PouchDB.defaults({ prefix: dataDir + path.sep });

// CouchDB's database name rule; `_users` and `_replicator` are its system databases.
const DB_NAME = /^[a-z][a-z0-9_$()+/-]*$/;
const SYSTEM_DBS = ['_users', '_replicator', '_global_changes'];
// express-pouchdb strips `/` from database names (they become file names): store them with `@` instead,
// a character CouchDB never allows in a name, and turn it back on the way out.
const SLASH_STANDIN = '@';
const toStored = (name) => name.split('/').join(SLASH_STANDIN);
const fromStored = (name) => name.split(SLASH_STANDIN).join('/');

function sendJSON(res, status, body) {
  res.status(status);
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body) + '\n');
}

async function dbExists(stored) {
  const dbs = await DB.allDbs();
  return dbs.includes(stored);
}

const app = express();
app.disable('x-powered-by');

// Fix 3 (names): check the database segment of every request and rewrite it to its stored form.
app.use((req, res, next) => {
  const [pathname, query] = splitUrl(req.url);
  const match = /^\/([^/]+)(\/.*)?$/.exec(pathname);
  if (!match || match[1].startsWith('_') && !SYSTEM_DBS.includes(decodeSafe(match[1]))) {
    return next();
  }
  const name = decodeSafe(match[1]);
  if (name === null || !DB_NAME.test(name) && !SYSTEM_DBS.includes(name)) {
    return sendJSON(res, 400, {
      error: 'illegal_database_name',
      reason: 'Name: \'' + name + '\'. Only lowercase characters (a-z), digits (0-9), and any of the ' +
        'characters _, $, (, ), +, -, and / are allowed. Must begin with a letter.',
    });
  }
  req.couchDbName = name;
  req.storedDbName = toStored(name);
  req.url = '/' + encodeURIComponent(req.storedDbName) + (match[2] || '') + (query === null ? '' : '?' + query);
  // express-pouchdb's virtual host step rebuilds the URL from `originalUrl`.
  req.originalUrl = req.url;
  next();
});

function splitUrl(url) {
  const i = url.indexOf('?');
  return i === -1 ? [url, null] : [url.slice(0, i), url.slice(i + 1)];
}

function decodeSafe(s) {
  try {
    return decodeURIComponent(s);
  } catch (e) {
    return null;
  }
}

// Fix 3 (shapes): the server's welcome.
app.get('/', (req, res) => {
  sendJSON(res, 200, {
    couchdb: 'Welcome',
    version: '3.3.3',
    git_sha: '00000000',
    uuid: 'f0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c0',
    features: ['access-ready', 'partitioned', 'pluggable-storage-engines', 'reshard', 'scheduler'],
    vendor: { name: 'Faxbox test server (express-pouchdb 4.2.0)', version: '4.2.0' },
  });
});

app.get('/_all_dbs', async (req, res) => {
  try {
    const dbs = (await DB.allDbs()).filter((n) => n !== 'pouch__auth_sessions__').map(fromStored).sort();
    sendJSON(res, 200, dbs);
  } catch (err) {
    sendError(res, err);
  }
});

// Every request on a database other than its creation needs the database to exist, as in CouchDB.
app.all(['/:db', '/:db/*'], async (req, res, next) => {
  if (!req.storedDbName || (req.method === 'PUT' && !req.params[0])) return next();
  try {
    if (await dbExists(req.storedDbName)) return next();
    sendJSON(res, 404, { error: 'not_found', reason: 'Database does not exist.' });
  } catch (err) {
    sendError(res, err);
  }
});

app.get('/:db', async (req, res) => {
  try {
    const db = await getOrCreateDB(DB, req.storedDbName);
    const info = await db.info();
    const size = typeof info.disk_size === 'number' ? info.disk_size : 0;
    sendJSON(res, 200, {
      db_name: req.couchDbName,
      purge_seq: '0',
      update_seq: String(info.update_seq),
      sizes: { file: size, external: size, active: size },
      props: {},
      doc_del_count: 0,
      doc_count: info.doc_count,
      disk_format_version: 8,
      compact_running: false,
      cluster: { q: 2, n: 1, w: 1, r: 1 },
      instance_start_time: '0',
    });
  } catch (err) {
    sendError(res, err);
  }
});

// Fix 2: live _changes feeds that end after `timeout` ms without a change, as CouchDB's do.
app.get('/:db/_changes', liveChanges);
app.post('/:db/_changes', express.json(), liveChanges);

async function liveChanges(req, res, next) {
  const feed = req.query.feed;
  if (feed !== 'continuous' && feed !== 'longpoll') return next();
  let db;
  let since;
  try {
    db = await getOrCreateDB(DB, req.storedDbName);
    since = await resolveSince(db, req.query.since);
  } catch (err) {
    return sendError(res, err);
  }
  const timeout = req.query.timeout === undefined ? 60000 : Number(req.query.timeout);
  const heartbeat = req.query.heartbeat === undefined ? null
    : req.query.heartbeat === 'true' ? 60000 : Number(req.query.heartbeat);
  const limit = req.query.limit === undefined ? null : Math.max(1, Number(req.query.limit));
  const opts = { since, include_docs: req.query.include_docs === 'true', style: req.query.style || 'main_only' };
  if (req.query.descending === 'true') opts.descending = true;
  if (req.body && Array.isArray(req.body.doc_ids)) {
    opts.doc_ids = req.body.doc_ids;
  } else if (req.query.doc_ids) {
    try {
      opts.doc_ids = JSON.parse(req.query.doc_ids);
    } catch (e) {
      return sendJSON(res, 400, { error: 'bad_request', reason: 'invalid doc_ids' });
    }
  }
  if (req.query.filter === '_doc_ids' && !opts.doc_ids) {
    return sendJSON(res, 400, { error: 'bad_request', reason: 'filter parameter `doc_ids` is missing' });
  }
  if (req.query.filter && req.query.filter !== '_doc_ids') opts.filter = req.query.filter;

  res.status(200);
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'must-revalidate');

  let lastSeq = since;
  const results = [];
  let live = null;
  let idleTimer = null;
  let beatTimer = null;
  let done = false;
  let remaining = limit === null ? Infinity : limit;

  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(idleTimer);
    clearInterval(beatTimer);
    if (live) live.cancel();
    if (feed === 'continuous') {
      res.end(JSON.stringify({ last_seq: lastSeq, pending: 0 }) + '\n');
    } else {
      res.end(JSON.stringify({ results, last_seq: lastSeq, pending: 0 }) + '\n');
    }
  };
  // CouchDB: `heartbeat` keeps the feed open (it overrides `timeout`); `timeout` counts from the last change.
  const armIdle = () => {
    if (heartbeat !== null) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(finish, Math.max(0, timeout));
  };
  if (heartbeat !== null && heartbeat > 0) {
    beatTimer = setInterval(() => res.write('\n'), heartbeat);
  }
  const onChange = (change) => {
    if (done) return;
    lastSeq = change.seq;
    if (feed === 'continuous') {
      res.write(JSON.stringify(change) + '\n');
    } else {
      results.push(change);
    }
    if (limit !== null && --remaining <= 0) return finish();
    if (feed === 'longpoll') return finish();
    armIdle();
  };
  req.on('close', () => {
    done = true;
    clearTimeout(idleTimer);
    clearInterval(beatTimer);
    if (live) live.cancel();
  });

  try {
    // What is there already, then (unless timeout=0 or the limit is reached) what comes.
    const first = await db.changes(Object.assign({}, opts, limit === null ? {} : { limit }));
    for (const change of first.results) {
      if (done) return;
      lastSeq = change.seq;
      if (feed === 'continuous') res.write(JSON.stringify(change) + '\n');
      else results.push(change);
      remaining--;
    }
    if (first.results.length > 0) lastSeq = first.last_seq;
    if (done) return;
    if (remaining <= 0 || (feed === 'longpoll' && results.length > 0) || timeout === 0 && heartbeat === null) {
      return finish();
    }
    armIdle();
    live = db.changes(Object.assign({}, opts, { since: lastSeq, live: true }))
      .on('change', onChange)
      .on('error', (err) => {
        console.error('changes feed error:', err && err.message);
        finish();
      });
  } catch (err) {
    if (!res.headersSent) return sendError(res, err);
    finish();
  }
}

async function resolveSince(db, since) {
  if (since === undefined || since === '') return 0;
  if (since === 'now') return (await db.info()).update_seq;
  const n = Number(since);
  return Number.isFinite(n) ? n : since;
}

function sendError(res, err) {
  const status = (err && err.status) || 500;
  sendJSON(res, status, { error: (err && err.name) || 'error', reason: (err && err.message) || String(err) });
}

// Fix 1: express-pouchdb itself, without compression and Fauxton; config and log stay in the data directory.
const pouchApp = expressPouchDB(DB, {
  mode: 'fullCouchDB',
  overrideMode: { exclude: ['compression', 'routes/fauxton'] },
  inMemoryConfig: true,
  logPath: path.join(dataDir, 'log.txt'),
});
app.use(pouchApp);

const server = app.listen(args.port, '127.0.0.1', () => {
  const { port } = server.address();
  console.log(`listening on http://127.0.0.1:${port}`);
});
server.on('error', (err) => {
  console.error('cannot listen:', err.message);
  process.exit(1);
});
