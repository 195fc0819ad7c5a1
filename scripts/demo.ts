// The demo: brings the two-gateway lab up, shows both sides' SAs, waits for Ctrl-C, tears down.
// The middle (between "up" and Ctrl-C) is where the agent will run.
import { cleanupStaleLabs, startLab } from '../test/lab/lab.js';

await cleanupStaleLabs();
const lab = await startLab({ initiate: true });
let closing = false;
const shutdown = async () => {
  if (closing) return;
  closing = true;
  console.log('\ntearing down the lab...');
  await lab.close();
  process.exit(0);
};
// Listening here also tells the lab's own signal handler not to exit before close() ran.
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

for (const side of ['left', 'right'] as const) {
  console.log(`=== ${side} (${lab[side].ns}) swanctl --list-sas ===`);
  console.log(await lab.swanctl(side, ['--list-sas']));
}
console.log(`lab ${lab.id} in ${lab.dir} (${lab.frontEnd})
  left  VICI ${lab.left.viciUri}  log ${lab.left.logPath}
  right VICI ${lab.right.viciUri}  log ${lab.right.logPath}
  IKE ${lab.ikeName}, children ${lab.children.join(', ')}
  targets ${lab.targets.map((t) => `${t.host}:${t.port}`).join(', ')} from ${lab.leftInsideAddr}
Ctrl-C to tear down.`);
setInterval(() => {}, 1 << 30);
