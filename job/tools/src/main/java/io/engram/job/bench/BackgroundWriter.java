package io.engram.job.bench;

import io.engram.schemas.AvroCodec;
import io.engram.schemas.EventPosition;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.StoreMemory;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * A steady stream of new memories into every space while queries run (the consistency variants): what an agent that
 * keeps writing does. Stores go round-robin over the spaces at a fixed total rate, stamped with the wall clock; for each
 * space it remembers the latest position (partition, offset) the broker acknowledged, which a read-your-writes query of
 * that space names, as a client naming what it got back from its producer would.
 */
final class BackgroundWriter implements AutoCloseable {
    private final KafkaProducer<byte[], byte[]> producer;
    private final String topic;
    private final List<String> spaces;
    private final int dim;
    private final double perSpacePerSecond;
    private final Random rnd;
    private final Map<String, EventPosition> latest = new ConcurrentHashMap<>();
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong acked = new AtomicLong();
    private final AtomicReference<Exception> failure = new AtomicReference<>();
    private final Thread thread;
    private volatile boolean running = true;

    /** @param initial each space's latest acknowledged position so far (the end of the ingest) */
    BackgroundWriter(KafkaProducer<byte[], byte[]> producer, String topic, List<String> spaces, int dim,
                     double perSpacePerSecond, long seed, Map<String, EventPosition> initial) {
        this.producer = producer;
        this.topic = topic;
        this.spaces = spaces;
        this.dim = dim;
        this.perSpacePerSecond = perSpacePerSecond;
        this.rnd = new Random(seed);
        this.latest.putAll(initial);
        this.thread = new Thread(this::loop, "e2e-background-writer");
        this.thread.setDaemon(true);
    }

    BackgroundWriter start() {
        if (perSpacePerSecond > 0) {
            thread.start();
        }
        return this;
    }

    /** The latest acknowledged position of a store into {@code space}, or null. */
    EventPosition latest(String space) {
        return latest.get(space);
    }

    long sent() {
        return sent.get();
    }

    long acked() {
        return acked.get();
    }

    Exception failure() {
        return failure.get();
    }

    private void loop() {
        long interval = (long) (1e9 / (perSpacePerSecond * spaces.size()));
        long next = System.nanoTime();
        for (long j = 0; running; j++) {
            long wait;
            while (running && (wait = next - System.nanoTime()) > 0) {
                LockSupport.parkNanos(wait);
            }
            next += interval;
            String space = spaces.get((int) (j % spaces.size()));
            MemoryEvent e = MemoryEvent.newBuilder()
                    .setSpace(space)
                    .setEventId(space + "-w" + j)
                    .setTimestampMs(System.currentTimeMillis())
                    .setPayload(StoreMemory.newBuilder().setMemoryId("w" + j)
                            .setEmbedding(EndToEndBenchmark.boxed(EndToEndBenchmark.unitVector(rnd, dim)))
                            .setStrength(1.0f).setStabilityS(null).setContent(null).build())
                    .build();
            sent.incrementAndGet();
            producer.send(new ProducerRecord<>(topic, EndToEndBenchmark.key(space), AvroCodec.encode(e)), (md, ex) -> {
                if (ex != null) {
                    failure.compareAndSet(null, ex);
                    return;
                }
                acked.incrementAndGet();
                latest.merge(space, new EventPosition(md.partition(), md.offset()),
                        (a, b) -> b.getOffset() > a.getOffset() ? b : a);
            });
        }
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        if (thread.isAlive()) {
            thread.join(10_000);
        }
        producer.flush();
    }
}
