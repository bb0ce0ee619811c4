package io.engram.job.state;

import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The serializer snapshot of the legacy {@code space} state in savepoints of the chunked layout (state layout 2).
 * Its only job is its name: an engram-flink build of layout 1 restoring such a savepoint fails with "Could not find
 * requested TypeSerializerSnapshot class 'io.engram.job.state.ChunkedLayoutRequired'", rather than silently
 * restoring every space empty (it would not know the chunk states). See docs/operations/zig_rollback_procedures.md.
 */
public final class ChunkedLayoutRequired implements TypeSerializerSnapshot<SpaceState> {
    @Override
    public int getCurrentVersion() {
        return 1;
    }

    @Override
    public void writeSnapshot(DataOutputView out) {
    }

    @Override
    public void readSnapshot(int readVersion, DataInputView in, ClassLoader userCodeClassLoader) {
    }

    @Override
    public TypeSerializer<SpaceState> restoreSerializer() {
        return SpaceStateSerializer.INSTANCE;
    }

    @Override
    public TypeSerializerSchemaCompatibility<SpaceState> resolveSchemaCompatibility(
            TypeSerializerSnapshot<SpaceState> oldSerializerSnapshot) {
        if (oldSerializerSnapshot instanceof ChunkedLayoutRequired
                || oldSerializerSnapshot instanceof SpaceStateSerializer.Snapshot) {
            return TypeSerializerSchemaCompatibility.compatibleAsIs();
        }
        return TypeSerializerSchemaCompatibility.incompatible();
    }
}
