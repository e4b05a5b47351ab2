<?php
// A small page's worth of work: build an array, encode it as JSON.
$items = [];
for ($i = 0; $i < 20; $i++) $items[] = ['id' => $i, 'name' => "item $i", 'tags' => ['a', 'b']];
header('Content-Type: application/json');
echo json_encode(['items' => $items, 'count' => count($items), 'uri' => $_SERVER['REQUEST_URI']]);
