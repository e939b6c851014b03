/** Cluster slot helpers live in stores (the worker needs them too); re-exported for the serving modules. */
export { SLOT_COUNT, crc16, keySlot } from '../stores/slot.ts';
