/** Every object under an s3:// prefix (the worker's bucket or one its policy lets it read), in listing order. */
import { storeForBucket } from '../../storage/open-location';
import type { ObjectStore } from '../../storage/object-store';
import type { OnSourceFile, SourceAdapter } from './types';

export function s3PrefixSource(bucket: string, key: string, store: ObjectStore): SourceAdapter {
  return {
    async walk(onFile: OnSourceFile) {
      const src = storeForBucket(bucket, store);
      const base = key === '' || key.endsWith('/') ? key : `${key}/`;
      for await (const o of src.list(base)) {
        if (o.key.endsWith('/')) continue; // folder markers
        await onFile(o.key.slice(base.length), o.size, () => src.getStream(o.key));
      }
    },
  };
}
