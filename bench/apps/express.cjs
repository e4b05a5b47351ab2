// The Express app of the Node runner benchmark, unmodified for every server: it listens on PORT
// itself (tsgi captures the listen call; cluster and PM2 share the port between workers).
const express = require('express');

const app = express();
const items = Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'] }));
const block = Buffer.alloc(64 * 1024, 'x');

app.get('/', (_req, res) => res.send('Hello, World!'));
app.get('/json', (_req, res) => res.json({ items, count: items.length }));
app.get('/64k', (_req, res) => res.type('application/octet-stream').send(block));

app.listen(Number(process.env.PORT ?? 3000));
