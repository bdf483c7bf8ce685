package io.tokenroute.examples.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The failure/readmit syntax and the schedule checks of {@link DemoConfig}. */
class DemoConfigTest {

    @Test
    void parsesSpecs() {
        assertEquals(new FailureSpec(3, 60, FailurePhase.DISPATCH), FailureSpec.parse("3@60:dispatch"));
        assertEquals(new FailureSpec(5, 120, FailurePhase.COMBINE), FailureSpec.parse(" 5@120:COMBINE "));
        assertEquals(new ReadmitSpec(3, 160), ReadmitSpec.parse("3@160"));
        assertEquals("3@60:dispatch", FailureSpec.parse("3@60:dispatch").toString());
        assertThrows(IllegalArgumentException.class, () -> FailureSpec.parse("3@60:"));
        assertThrows(IllegalArgumentException.class, () -> FailureSpec.parse("99999999999@1:dispatch"));
        assertThrows(IllegalArgumentException.class, () -> ReadmitSpec.parse("-1@3"));
    }

    @Test
    void defaultsMatchTheCli() {
        DemoConfig c = DemoConfig.builder().build();
        assertEquals(8, c.ranks());
        assertEquals(10, c.slotsPerRank(), "64 / 8 + 2 redundant");
        assertEquals(80, c.physicalExperts());
    }

    @Test
    void scheduleIsReplayed() {
        DemoConfig c = DemoConfig.builder().ranks(4).experts(16).steps(40)
                .failures(List.of(FailureSpec.parse("2@10:dispatch"), FailureSpec.parse("1@20:combine"),
                        FailureSpec.parse("2@35:combine")))
                .readmits(List.of(ReadmitSpec.parse("2@30"))).build();
        assertArrayEquals(new boolean[] {false, true, true, false}, c.stoppedAtEnd());
        assertEquals(List.of(ReadmitSpec.parse("2@30")), c.readmitsAt(30));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DemoConfig.builder()
                .ranks(4).experts(16).readmits(List.of(ReadmitSpec.parse("2@30"))).build());
        assertTrue(e.getMessage().contains("is not stopped"), e.getMessage());
    }
}
