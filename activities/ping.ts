import { runStage, type ActivityDeps } from './support';

export function pingActivities(deps: ActivityDeps) {
  return {
    async pingStorage(input: { message: string }): Promise<{ echoed: string; key: string; bytes: number }> {
      return runStage('pingStorage', async () => {
        const key = `health/ping-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.txt`;
        await deps.store.putObject(key, input.message, { contentType: 'text/plain' });
        const echoed = (await deps.store.getBuffer(key)).toString('utf8');
        await deps.store.delete(key);
        return { echoed, key, bytes: Buffer.byteLength(echoed) };
      });
    },
  };
}
