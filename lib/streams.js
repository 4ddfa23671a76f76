'use strict'
// Making the sockets' ReadableStreams and WritableStreams so that they share hidden classes.
//
// Node 20 builds every web stream through `makeTransferable` (lib/internal/worker/
// js_transferable.js), which creates the real object with
// `Reflect.construct(JSTransferable, [], obj.constructor)`. With `new.target` a class that
// does not derive from the C++ class JSTransferable (ReadableStream itself), V8 cannot
// cache the map it derives for the object, so every stream gets a hidden class (map) of
// its own: the property loads in Node's stream code (`stream[kState]` on every read and
// write) go megamorphic, and with hundreds of streams V8's megamorphic stub cache misses
// (the generic LoadIC builtins took 18 % of the CPU with 500 connections doing round
// trips).
//
// With `new.target` a subclass of JSTransferable, V8 caches the derived map on that class:
// every object gets the same map, and so do the maps it goes through after that. So a
// stream is made as an instance of a private subclass of ReadableStream whose prototype's
// `constructor` is such a class (nothing global is changed), and then given the public
// prototype back: the object is what `new ReadableStream(...)` makes (the same prototype,
// `constructor`, brand, name in stack traces and heap snapshots, transfer through
// postMessage), only with a shared map. JSTransferable is the parent class of
// `net.BlockList` on Node 20. Where that is not so (other Node versions: no
// makeTransferable), streams are made as usual.

const { ReadableStream, WritableStream } = require('node:stream/web')
const { BlockList } = require('node:net')

/** Node 20's JSTransferable (the parent class of net.BlockList), or null. */
function findJSTransferable() {
  try {
    const parent = Object.getPrototypeOf(BlockList)
    if (typeof parent !== 'function' || parent.name !== 'JSTransferable') return null
    return new BlockList() instanceof parent ? parent : null
  } catch {
    return null // BlockList replaced by something that throws
  }
}
const JSTransferable = findJSTransferable()
// Kept from load time, like lib/primordials.js's built-ins.
const { setPrototypeOf } = Reflect

/** A maker of `Base` streams with shared maps, or null where the trick does not apply. */
function sharedMapMaker(Base) {
  if (JSTransferable === null) return null
  // An explicit constructor: the default one spreads its arguments through the array
  // iterator, which code running later could replace.
  class Shared extends Base {
    constructor(underlying, strategy) {
      super(underlying, strategy)
    }
  }
  // A subclass of JSTransferable rather than JSTransferable itself: V8 names an object after
  // its map's constructor when that is not the class itself (`new.target` here), so stack
  // traces, the inspector and heap snapshots still say ReadableStream / WritableStream.
  class Transferable extends JSTransferable {}
  Object.defineProperty(Shared.prototype, 'constructor', { value: Transferable })
  const proto = Base.prototype
  const make = (underlying, strategy) => {
    const stream = new Shared(underlying, strategy)
    setPrototypeOf(stream, proto)
    return stream
  }
  // A stream made so must be what `new Base()` makes.
  try {
    const probe = make(undefined, undefined)
    if (Object.getPrototypeOf(probe) !== proto || probe.constructor !== Base) return null
  } catch {
    return null
  }
  return make
}

/** `new ReadableStream(source, strategy)`, with a map shared by every stream made here. */
const newReadableStream =
  sharedMapMaker(ReadableStream) ?? ((source, strategy) => new ReadableStream(source, strategy))

/** `new WritableStream(sink, strategy)`, with a map shared by every stream made here. */
const newWritableStream = sharedMapMaker(WritableStream) ?? ((sink, strategy) => new WritableStream(sink, strategy))

module.exports = { newReadableStream, newWritableStream }
